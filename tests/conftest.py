"""Backends for the behavioural tests: moto (``mock_aws``) and AWS's DynamoDB Local.

Every test that takes ``backend`` (or ``tables``) runs once on each. DynamoDB Local is
started once per session, on a free port; each test gets tables of its own.
"""

import uuid
from typing import Iterator, Tuple

import pytest
from moto import mock_aws

from pynamodb_tables import JobTable, RegionRequestTable
from pynamodb_tables.testing import DynamoDBLocal
from tests.backends import Backend


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; no endpoint or table names leaking in from the shell."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB",
                 "JOB_TABLE", "REGION_REQUEST_TABLE", "DDB_TTL_IN_DAYS", "DDB_TILE_FLUSH_SECONDS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    server = DynamoDBLocal().start()
    yield server
    server.stop()


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
def local_tables(dynamodb_local: DynamoDBLocal) -> Iterator[Tuple[JobTable, RegionRequestTable]]:
    """A pair of tables of the test's own on DynamoDB Local only (for fault and sequence tests)."""
    pair = Backend("dynamodb_local", dynamodb_local.endpoint).tables(uuid.uuid4().hex[:8])
    yield pair
    for table in pair:
        table.model.delete_table()


@pytest.fixture
def job_table(tables: Tuple[JobTable, RegionRequestTable]) -> JobTable:
    return tables[0]


@pytest.fixture
def region_table(tables: Tuple[JobTable, RegionRequestTable]) -> RegionRequestTable:
    return tables[1]
