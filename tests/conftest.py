"""Backends for the behavioural tests: moto (``mock_aws``) and AWS's DynamoDB Local.

Every test that takes ``backend`` (or ``tables``) runs once on each. DynamoDB Local is
started once per session, on a free port; each test gets tables of its own.
"""

from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Tuple

import botocore.session
import pytest
from moto import mock_aws

from pynamodb_tables import JobTable, RegionRequestTable
from pynamodb_tables.testing import DynamoDBLocal

# Every frozen test starts here. It lies in the future: DynamoDB Local, like DynamoDB,
# deletes items whose expire_time has passed, and expire_time is derived from this clock.
T0 = "2031-03-04 05:06:07.891"
T0_MS = 1930367167891


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; no endpoint or table names leaking in from the shell."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB",
                 "JOB_TABLE", "REGION_REQUEST_TABLE", "DDB_TTL_IN_DAYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    server = DynamoDBLocal().start()
    yield server
    server.stop()


@dataclass
class Backend:
    name: str
    host: Optional[str]

    def tables(self, suffix: str = "test") -> Tuple[JobTable, RegionRequestTable]:
        """A pair of empty tables, created and ready (the caller deletes them)."""
        job_table = JobTable(f"jobs-{suffix}", host=self.host)
        region_table = RegionRequestTable(f"regions-{suffix}", host=self.host)
        for table in (job_table, region_table):
            table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        return job_table, region_table

    def raw_item(self, table_name: str, **key: str) -> Optional[Dict[str, Any]]:
        """The item exactly as DynamoDB stores it (attribute-value JSON), bypassing the package."""
        client = botocore.session.get_session().create_client("dynamodb", endpoint_url=self.host)
        response = client.get_item(TableName=table_name, Key={k: {"S": v} for k, v in key.items()},
                                   ConsistentRead=True)
        return response.get("Item")

    def item_count(self, table_name: str) -> int:
        """Items in the table (a consistent scan)."""
        client = botocore.session.get_session().create_client("dynamodb", endpoint_url=self.host)
        return sum(page["Count"] for page in client.get_paginator("scan").paginate(
            TableName=table_name, ConsistentRead=True))


@pytest.fixture(params=["moto", pytest.param("dynamodb_local", marks=pytest.mark.dynamodb_local)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "moto":
        with mock_aws():
            yield Backend("moto", None)
    else:
        server = request.getfixturevalue("dynamodb_local")
        yield Backend("dynamodb_local", server.endpoint)


@pytest.fixture
def tables(backend: Backend) -> Iterator[Tuple[JobTable, RegionRequestTable]]:
    """The same two table names in every test (so their clients are reused), empty each time."""
    pair = backend.tables()
    yield pair
    if backend.name != "moto":  # moto forgets everything when its mock ends
        for table in pair:
            table.model.delete_table()


@pytest.fixture
def job_table(tables: Tuple[JobTable, RegionRequestTable]) -> JobTable:
    return tables[0]


@pytest.fixture
def region_table(tables: Tuple[JobTable, RegionRequestTable]) -> RegionRequestTable:
    return tables[1]
