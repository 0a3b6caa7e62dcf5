"""What the management script's tests share (no tests here): running the script, tables to run it on.

Most tests call ``main([...])`` in-process (:func:`cli`); others run ``pynamodb-tables`` the way operators
do (:func:`run`): the installed script as a subprocess in the full tier, ``main`` in this process in the
default tier. Tables live on AWS's
DynamoDB Local (started by the suite) or, for what DynamoDB Local does not implement
(tagging, KMS encryption, point-in-time recovery, CloudFormation), on moto's server.
"""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import botocore.session
import pytest

from pynamodb_tables import JobItem, JobTable, RegionRequestItem, RegionRequestTable, RequestStatus, TileState
from pynamodb_tables import complete_region as complete
from pynamodb_tables.management import main
from pynamodb_tables.testing import MotoServer

SCRIPT = Path(sys.executable).parent / "pynamodb-tables"
local = pytest.mark.dynamodb_local

JOB_KEYS = [("image_id", "HASH", "S")]
REGION_KEYS = [("image_id", "HASH", "S"), ("region_id", "RANGE", "S")]


@dataclass
class Result:
    """What one run of the script did: exit code, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """``pynamodb-tables ARGS`` in this process."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's usage errors, --help, --version
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Result(code, out, err)


def script_env(**extra: str) -> Dict[str, str]:
    """The environment of an operator's shell: fake credentials, a region, no endpoint or table names."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "JOB_TABLE", "REGION_REQUEST_TABLE",
                        "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    env.update(extra)
    return env


#: Whether :func:`run` starts the installed script (the full tier) or calls its ``main`` in this process (the
#: default tier: the same arguments, the same code, without a Python start each time). Set by ``conftest.py``.
SUBPROCESS = True


def run(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 120) -> Result:
    """``pynamodb-tables ARGS`` as an operator runs it: the installed script in a subprocess, in the full tier
    or when ``env`` is given (what it tests is the process's environment); else in this process, its output
    captured, in the test's environment (fake credentials, no endpoint or table names: ``script_env``'s)."""
    if env is None and not SUBPROCESS:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors, --help, --version
                code = int(exc.code or 0)
        return Result(code, out.getvalue(), err.getvalue())
    done = subprocess.run([str(SCRIPT), *args], env=env or script_env(), capture_output=True, text=True,
                          timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def write_items(client: Any, name: str, items: List[Dict[str, Any]]) -> None:
    """Items in wire form, 25 a batch (what DynamoDB Local leaves unprocessed is sent again)."""
    for start in range(0, len(items), 25):
        requests: List[Dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
        while requests:
            answer = client.batch_write_item(RequestItems={name: requests})
            requests = answer.get("UnprocessedItems", {}).get(name, [])


class Tables:
    """Two unique table names on one endpoint, and a botocore client to look at them."""

    def __init__(self, endpoint: str) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.endpoint = endpoint
        self.job, self.region = f"jobs-{suffix}", f"regions-{suffix}"
        self.client = botocore.session.get_session().create_client(
            "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing")

    def args(self) -> List[str]:
        return ["--endpoint-url", self.endpoint, "--job-table", self.job, "--region-table", self.region]

    def run(self, *args: str, **kwargs: Any) -> Result:
        """The script in a subprocess, on these tables."""
        return run(*args, *self.args(), **kwargs)

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> Result:
        """The script in this process, on these tables."""
        return cli(capsys, *args, *self.args())

    def described(self, capsys: pytest.CaptureFixture[str]) -> List[Dict[str, Any]]:
        """``describe-tables --json``'s tables."""
        result = self.cli(capsys, "describe-tables", "--json")
        assert result.stdout, result.stderr
        return list(json.loads(result.stdout)["tables"])

    def kms_key(self) -> str:
        """A new KMS key's ARN (on moto's server)."""
        kms = botocore.session.get_session().create_client(
            "kms", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing")
        return str(kms.create_key(Description="pynamodb_tables test")["KeyMetadata"]["Arn"])

    def describe(self, name: str) -> Optional[Dict[str, Any]]:
        try:
            return self.client.describe_table(TableName=name)["Table"]
        except self.client.exceptions.ResourceNotFoundException:
            return None

    def ttl(self, name: str) -> Dict[str, str]:
        return self.client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]

    def keys(self, name: str) -> List[Tuple[str, str, str]]:
        table = self.describe(name)
        assert table is not None
        types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
        return [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in table["KeySchema"]]

    def create_raw(self, name: str, *keys: Tuple[str, str]) -> None:
        """A table made directly with botocore (no TTL): ``keys`` are (name, HASH or RANGE), all S."""
        self.client.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in keys],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n, _ in keys])

    def library(self) -> Tuple[JobTable, RegionRequestTable]:
        return JobTable(self.job, host=self.endpoint), RegionRequestTable(self.region, host=self.endpoint)

    def set_updated(self, image_id: str, region_id: str, ms: int) -> None:
        """Move a region's ``last_updated_time`` and ``start_time`` back to ``ms`` (as a worker that started
        and stopped then would have left it)."""
        self.client.update_item(TableName=self.region,
                                Key={"image_id": {"S": image_id}, "region_id": {"S": region_id}},
                                UpdateExpression="SET last_updated_time = :t, start_time = :t",
                                ExpressionAttributeValues={":t": {"N": str(ms)}})

    def cleanup(self) -> None:
        for name in (self.job, self.region):
            table = self.describe(name)
            if table is not None:
                if table.get("DeletionProtectionEnabled"):
                    self.client.update_table(TableName=name, DeletionProtectionEnabled=False)
                self.client.delete_table(TableName=name)


@pytest.fixture
def tables(dynamodb_local: Any) -> Iterator[Tables]:
    """Two new table names on DynamoDB Local (deleted afterwards)."""
    pair = Tables(dynamodb_local.endpoint)
    yield pair
    pair.cleanup()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server (one per test module): what DynamoDB Local does not implement."""
    with MotoServer() as server:
        yield server.endpoint


@pytest.fixture
def moto_tables(moto_endpoint: str) -> Iterator[Tables]:
    pair = Tables(moto_endpoint)
    yield pair
    pair.cleanup()


def make_job(tables: Tables, image_id: str = "img") -> None:
    """A job of 3 regions: r-0 succeeded, r-1 running (fresh), r-2 running but last updated an hour ago."""
    if tables.describe(tables.job) is None:
        assert main(["create-tables", *tables.args()]) == 0
    job_table, region_table = tables.library()
    job_table.start_image_request(JobItem(image_id=image_id, job_id="job-7", region_count=3))
    for region_id in ("r-0", "r-1", "r-2"):
        region_table.start_region_request(RegionRequestItem(image_id=image_id, region_id=region_id, total_tiles=2))
    region_table.add_tiles(image_id, "r-0", [[[0, 0], [8, 8]], [[8, 0], [8, 8]]], TileState.SUCCEEDED)
    done = region_table.get_region_request("r-0", image_id)
    assert done is not None
    complete(job_table, region_table, done, RequestStatus.SUCCESS)
    region_table.add_tile(image_id, "r-1", [[0, 0], [8, 8]], TileState.SUCCEEDED)
    region_table.add_tile(image_id, "r-1", [[8, 0], [8, 8]], TileState.FAILED)
    tables.set_updated(image_id, "r-2", int(time.time() * 1000) - 3_600_000)


def finish_job(tables: Tables, image_id: str = "img") -> None:
    """The rest of :func:`make_job`'s job: r-1 PARTIAL, r-2 SUCCESS, and the job ended."""
    job_table, region_table = tables.library()
    for region_id, status in (("r-1", RequestStatus.PARTIAL), ("r-2", RequestStatus.SUCCESS)):
        region = region_table.get_region_request(region_id, image_id)
        assert region is not None
        complete(job_table, region_table, region, status)
    job_table.end_image_request(image_id)


def watch_until_finished(tables: Tables, *args: str) -> Tuple[Any, Any]:
    """``pynamodb-tables ARGS --watch --json`` in a subprocess while :func:`finish_job` finishes the job:
    the first and the last JSON it printed (it must exit by itself, with 0)."""
    watch = subprocess.Popen([str(SCRIPT), *args, "--watch", "--json", "--interval", "0.5", *tables.args()],
                             env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watch.stdout is not None
        first = json.loads(watch.stdout.readline())
        finish_job(tables)
        rest, errors = watch.communicate(timeout=30)
    finally:
        watch.kill()
    assert watch.returncode == 0, errors
    return first, json.loads(rest.strip().splitlines()[-1])


#: Ids in the model runner's own forms: a job id is a UUID, an image id ``<job id>:<image url>``, a
#: region id ``<region bounds>-<job id>``.
RUNNER_JOB = "5e0c7d2a-1b3c-4d5e-8f90-123456789abc"
RUNNER_IMAGE = f"{RUNNER_JOB}:s3://imagery-bucket/2026/11/scene-0042.tif"
RUNNER_OTHER_JOB = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
RUNNER_OTHER_IMAGE = f"{RUNNER_OTHER_JOB}:s3://imagery-bucket/2026/11/scene-0043.tif"


def runner_region_id(x: int, y: int, job_id: str = RUNNER_JOB) -> str:
    return f"(({x}, {y}), (2048, 2048))-{job_id}"


def make_runner_job(tables: Tables) -> List[str]:
    """A job with the model runner's ids, its regions in every state: ``SUCCESS``, ``PARTIAL``,
    ``FAILED`` then redriven and ``IN_PROGRESS``, ``STARTED``, and a stale one; another job ended.
    Returns the region ids."""
    if tables.describe(tables.job) is None:
        assert main(["create-tables", *tables.args()]) == 0
    job_table, region_table = tables.library()
    job_table.start_image_request(JobItem(RUNNER_IMAGE, RUNNER_JOB, region_count=6))
    ids = [runner_region_id(x, y) for x, y in ((0, 0), (0, 2048), (2048, 0), (2048, 2048), (4096, 0), (4096, 2048))]
    regions = [region_table.start_region_request(RegionRequestItem(region_id, RUNNER_IMAGE, RUNNER_JOB,
                                                                   total_tiles=16)) for region_id in ids]
    region_table.add_tiles(RUNNER_IMAGE, ids[0], [[[0, 0], [512, 512]], [[512, 0], [512, 512]]], TileState.SUCCEEDED)
    complete(job_table, region_table, regions[0], RequestStatus.SUCCESS)
    region_table.add_tile(RUNNER_IMAGE, ids[1], [[0, 0], [512, 512]], TileState.FAILED)
    complete(job_table, region_table, region_table.get_region_request(ids[1], RUNNER_IMAGE), RequestStatus.PARTIAL)
    complete(job_table, region_table, regions[2], RequestStatus.FAILED)
    redriven = region_table.start_region_request(region_table.get_region_request(ids[2], RUNNER_IMAGE))
    region_table.update_region_request(RegionRequestItem(ids[2], RUNNER_IMAGE, region_status=RequestStatus.IN_PROGRESS))
    assert redriven.region_retry_count == 1
    tables.set_updated(RUNNER_IMAGE, ids[5], int(time.time() * 1000) - 3_600_000)
    job_table.start_image_request(JobItem(RUNNER_OTHER_IMAGE, RUNNER_OTHER_JOB, region_count=1))
    other = region_table.start_region_request(RegionRequestItem(runner_region_id(0, 0, RUNNER_OTHER_JOB),
                                                                RUNNER_OTHER_IMAGE, RUNNER_OTHER_JOB))
    complete(job_table, region_table, other, RequestStatus.SUCCESS)
    job_table.end_image_request(RUNNER_OTHER_IMAGE)
    return ids


def operations_table(stdout: str) -> Dict[str, Dict[str, str]]:
    """The demo's last block: a row per operation, by column (columns are two or more spaces apart); the line
    under it saying what the units are left out."""
    lines = [line for line in stdout.split("operations, from the package's events (resends by cause)\n")[1].strip()
             .splitlines() if not line.startswith("units: ")]
    headers = re.split(r"\s{2,}", lines[0].strip())
    rows = [dict(zip(headers, re.split(r"\s{2,}", line.strip()))) for line in lines[1:]]
    return {row["operation"]: row for row in rows}
