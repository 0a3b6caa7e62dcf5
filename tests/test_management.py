"""The management script as operators run it: the installed ``pynamodb-tables`` in a subprocess.

The commands run against AWS's DynamoDB Local (started by the suite), and each test checks
what DynamoDB holds afterwards. Point-in-time recovery is the exception: DynamoDB Local does
not implement UpdateContinuousBackups (it answers UnknownOperationException), so ``--pitr``
is tested against moto's server, started here.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import botocore.session
import pytest

from pynamodb_tables import (
    ImageAlreadyEndedError,
    ImageRequestExistsError,
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileState,
    complete_region,
    tiles_to_process,
)
from pynamodb_tables.management.demo_checks import DemoResult
from pynamodb_tables.management.demo_scenario import Scenario
from tests.conftest import Backend
from tests.faults import clients_of

SCRIPT = Path(sys.executable).parent / "pynamodb-tables"
local = pytest.mark.dynamodb_local

#: The IAM action of each kind of item in a TransactWriteItems request.
TRANSACT_ACTIONS = {"Update": "dynamodb:UpdateItem", "ConditionCheck": "dynamodb:ConditionCheckItem",
                    "Put": "dynamodb:PutItem", "Delete": "dynamodb:DeleteItem"}


def script_env(**extra: str) -> Dict[str, str]:
    """The environment of an operator's shell: fake credentials, a region, no endpoint or table names."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "JOB_TABLE", "REGION_REQUEST_TABLE")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    env.update(extra)
    return env


def run(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], env=env or script_env(), capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


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

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        return run(*args, *self.args(), **kwargs)

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

    def cleanup(self) -> None:
        for name in (self.job, self.region):
            if self.describe(name) is not None:
                self.client.delete_table(TableName=name)


@pytest.fixture
def tables(dynamodb_local: Any) -> Iterator[Tables]:
    pair = Tables(dynamodb_local.endpoint)
    yield pair
    pair.cleanup()


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


JOB_KEYS = [("image_id", "HASH", "S")]
REGION_KEYS = [("image_id", "HASH", "S"), ("region_id", "RANGE", "S")]


# --- create-tables ------------------------------------------------------------------------------

@local
def test_create_tables_makes_both_tables_on_demand_with_ttl_and_is_idempotent(tables: Tables) -> None:
    result = tables.run("create-tables")
    assert result.returncode == 0, result.stderr
    assert "created (PAY_PER_REQUEST)" in result.stdout
    for name, keys in ((tables.job, JOB_KEYS), (tables.region, REGION_KEYS)):
        table = tables.describe(name)
        assert table is not None and table["TableStatus"] == "ACTIVE"
        assert tables.keys(name) == keys
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert tables.ttl(name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expire_time"}
    created = {name: tables.describe(name)["CreationDateTime"] for name in (tables.job, tables.region)}

    again = tables.run("create-tables")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("exists (PAY_PER_REQUEST), left as is; TTL on expire_time already enabled") == 2
    assert {name: tables.describe(name)["CreationDateTime"] for name in created} == created


@local
def test_create_tables_provisioned(tables: Tables) -> None:
    result = tables.run("create-tables", "--billing-mode", "PROVISIONED", "--read-capacity", "3",
                        "--write-capacity", "2")
    assert result.returncode == 0, result.stderr
    for name in (tables.job, tables.region):
        table = tables.describe(name)
        assert table is not None
        assert table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") == "PROVISIONED"
        assert (table["ProvisionedThroughput"]["ReadCapacityUnits"],
                table["ProvisionedThroughput"]["WriteCapacityUnits"]) == (3, 2)
        assert tables.ttl(name)["TimeToLiveStatus"] == "ENABLED"


@local
def test_create_tables_turns_ttl_on_for_existing_tables_and_leaves_them_otherwise(tables: Tables) -> None:
    tables.create_raw(tables.job, ("image_id", "HASH"))
    tables.create_raw(tables.region, ("image_id", "HASH"), ("region_id", "RANGE"))
    created = {name: tables.describe(name)["CreationDateTime"] for name in (tables.job, tables.region)}

    result = tables.run("create-tables")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("left as is; TTL on expire_time enabled") == 2
    for name in created:
        assert tables.ttl(name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expire_time"}
    assert {name: tables.describe(name)["CreationDateTime"] for name in created} == created


@local
def test_create_tables_refuses_a_table_with_another_key_schema_and_changes_nothing(tables: Tables) -> None:
    tables.create_raw(tables.region, ("image_id", "HASH"))  # no range key

    result = tables.run("create-tables")
    assert_one_line_error(result, f"region request table '{tables.region}'", "key schema", "nothing was changed")
    assert tables.describe(tables.job) is None  # the job table (checked fine) was not created either
    assert tables.keys(tables.region) == JOB_KEYS
    assert tables.ttl(tables.region) == {"TimeToLiveStatus": "DISABLED"}
    assert_one_line_error(tables.run("describe-tables"), "does not match the contract")


@local
def test_create_tables_pitr_unsupported_by_dynamodb_local_is_one_clear_error(tables: Tables) -> None:
    result = tables.run("create-tables", "--pitr")
    assert_one_line_error(result, "point-in-time recovery not enabled", "UnknownOperationException")


def test_create_tables_pitr_on_moto_server(moto_endpoint: str) -> None:
    # DynamoDB Local lacks UpdateContinuousBackups (test above): moto's server implements it.
    tables = Tables(moto_endpoint)
    result = tables.run("create-tables", "--pitr")
    assert result.returncode == 0, result.stderr
    for name in (tables.job, tables.region):
        backups = tables.client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    described = tables.run("describe-tables", "--json")
    assert described.returncode == 0, described.stderr
    assert [t["point_in_time_recovery"] for t in json.loads(described.stdout)["tables"]] == ["ENABLED", "ENABLED"]


# --- describe-tables and delete-tables ----------------------------------------------------------------

@local
def test_describe_tables(tables: Tables) -> None:
    missing = tables.run("describe-tables")
    assert_one_line_error(missing, "does not exist")
    assert missing.stdout.count("does not exist") == 2

    assert tables.run("create-tables").returncode == 0
    job_table, region_table = tables.library()
    for image in ("img-1", "img-2"):
        job_table.start_image_request(JobItem(image_id=image, region_count=3))
    for region in ("r-0", "r-1", "r-2"):
        region_table.start_region_request(RegionRequestItem(image_id="img-1", region_id=region))

    text = tables.run("describe-tables")
    assert text.returncode == 0, text.stderr
    assert "image_id (HASH, S), region_id (RANGE, S)" in text.stdout
    assert text.stdout.count("ENABLED on expire_time") == 2
    assert text.stdout.count("contract                matches") == 2

    result = tables.run("describe-tables", "--json")
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert described["ok"] is True
    job, region = described["tables"]
    assert (job["role"], job["name"], region["role"], region["name"]) == (
        "job", tables.job, "region_request", tables.region)
    assert [(k["attribute"], k["key_type"], k["type"]) for k in region["key_schema"]] == REGION_KEYS
    assert (job["status"], job["billing_mode"], job["ttl_status"], job["ttl_attribute"]) == (
        "ACTIVE", "PAY_PER_REQUEST", "ENABLED", "expire_time")
    assert (job["item_count"], region["item_count"]) == (2, 3)
    assert job["point_in_time_recovery"] == "unsupported"  # by DynamoDB Local
    assert job["problems"] == [] and region["matches_contract"] is True

    approximate = tables.run("describe-tables", "--json", "--approximate")
    assert approximate.returncode == 0, approximate.stderr
    assert all(isinstance(t["item_count"], int) for t in json.loads(approximate.stdout)["tables"])


@local
def test_delete_tables_refuses_without_yes(tables: Tables) -> None:
    assert tables.run("create-tables").returncode == 0

    assert_one_line_error(tables.run("delete-tables"), "--yes", tables.job, tables.region)
    assert tables.describe(tables.job) is not None and tables.describe(tables.region) is not None

    deleted = tables.run("delete-tables", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert tables.describe(tables.job) is None and tables.describe(tables.region) is None
    again = tables.run("delete-tables", "--yes")
    assert again.returncode == 0 and again.stdout.count("not found, nothing to delete") == 2


# --- status -------------------------------------------------------------------------------------------

def make_job(tables: Tables, image_id: str = "img") -> None:
    """A job of 3 regions: r-0 succeeded, r-1 running (fresh), r-2 running but last updated an hour ago."""
    assert tables.run("create-tables").returncode == 0
    job_table, region_table = tables.library()
    job_table.start_image_request(JobItem(image_id=image_id, job_id="job-7", region_count=3))
    for region_id in ("r-0", "r-1", "r-2"):
        region_table.start_region_request(RegionRequestItem(image_id=image_id, region_id=region_id, total_tiles=2))
    region_table.add_tiles(image_id, "r-0", [[[0, 0], [8, 8]], [[8, 0], [8, 8]]], TileState.SUCCEEDED)
    done = region_table.get_region_request("r-0", image_id)
    assert done is not None
    complete_region(job_table, region_table, done, RequestStatus.SUCCESS)
    region_table.add_tile(image_id, "r-1", [[0, 0], [8, 8]], TileState.SUCCEEDED)
    region_table.add_tile(image_id, "r-1", [[8, 0], [8, 8]], TileState.FAILED)
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    tables.client.update_item(TableName=tables.region, Key={"image_id": {"S": image_id}, "region_id": {"S": "r-2"}},
                              UpdateExpression="SET last_updated_time = :t",
                              ExpressionAttributeValues={":t": {"N": str(an_hour_ago)}})


def line_of(text: str, region_id: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(region_id + " "))


@local
def test_status_text_from_environment_settings(tables: Tables) -> None:
    make_job(tables)
    env = script_env(AWS_ENDPOINT_URL_DYNAMODB=tables.endpoint, JOB_TABLE=tables.job,
                     REGION_REQUEST_TABLE=tables.region)
    result = run("status", "img", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "img  (job job-7)" in out and "running" in out
    assert "1/3 done: 1 succeeded, 0 with errors" in out and "[" in out
    assert line_of(out, "r-0").split()[:6] == ["r-0", "SUCCESS", "0", "2", "0", "2"]
    assert line_of(out, "r-1").split()[:6] == ["r-1", "STARTED", "0", "1", "1", "2"]
    assert line_of(out, "r-2").rstrip().endswith("stale")
    assert "stale" not in line_of(out, "r-1") and "stale" not in line_of(out, "r-0")
    assert "1 stale region(s)" in out


@local
def test_status_json(tables: Tables) -> None:
    make_job(tables)
    result = tables.run("status", "img", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert set(status) == {"image_id", "checked_at", "stale_after_seconds", "job", "regions", "summary"}
    job = status["job"]
    assert set(job) == {"job_id", "state", "region_count", "region_success", "region_error", "start_time",
                        "end_time", "duration_seconds"}
    assert (job["job_id"], job["state"], job["region_count"], job["region_success"], job["region_error"]) == (
        "job-7", "running", 3, 1, 0)
    assert isinstance(job["start_time"], int) and job["end_time"] is None
    regions = {r["region_id"]: r for r in status["regions"]}
    assert list(regions) == ["r-0", "r-1", "r-2"]
    assert set(regions["r-0"]) == {"region_id", "region_status", "region_retry_count", "total_tiles",
                                   "succeeded_tile_count", "failed_tile_count", "start_time", "last_updated_time",
                                   "end_time", "seconds_since_update", "stale"}
    assert (regions["r-1"]["succeeded_tile_count"], regions["r-1"]["failed_tile_count"]) == (1, 1)
    assert [regions[r]["stale"] for r in regions] == [False, False, True]
    assert regions["r-2"]["seconds_since_update"] >= 3600
    assert status["summary"] == {"regions_seen": 3, "regions_by_status": {"SUCCESS": 1, "STARTED": 2},
                                 "stale_regions": 1}

    strict = json.loads(tables.run("status", "img", "--json", "--stale-after", "0").stdout)
    assert [r["stale"] for r in strict["regions"]] == [False, True, True]  # a finished region is never stale
    assert strict["stale_after_seconds"] == 0


@local
def test_status_of_an_unknown_image_is_one_clear_error(tables: Tables) -> None:
    assert tables.run("create-tables").returncode == 0
    assert_one_line_error(tables.run("status", "no-such-image"), "unknown image 'no-such-image'", tables.job)
    assert_one_line_error(tables.run("status", "no-such-image", "--watch"), "unknown image")


@local
def test_status_watch_ends_when_the_job_ends(tables: Tables) -> None:
    make_job(tables)
    watch = subprocess.Popen([str(SCRIPT), "status", "img", "--watch", "--json", "--interval", "0.2",
                              *tables.args()], env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert watch.stdout is not None
        first = json.loads(watch.stdout.readline())
        assert first["job"]["state"] == "running"
        job_table, region_table = tables.library()
        for region_id, status in (("r-1", RequestStatus.PARTIAL), ("r-2", RequestStatus.SUCCESS)):
            region = region_table.get_region_request(region_id, "img")
            assert region is not None
            complete_region(job_table, region_table, region, status)
        job_table.end_image_request("img")
        rest, errors = watch.communicate(timeout=30)
    finally:
        watch.kill()
    assert watch.returncode == 0, errors
    last = json.loads(rest.strip().splitlines()[-1])
    assert last["job"]["state"] == "ended" and last["job"]["end_time"] is not None
    assert (last["job"]["region_success"], last["job"]["region_error"]) == (2, 1)

    # On a job that has ended, --watch draws once (text, with its progress bar) and exits.
    ended = tables.run("status", "img", "--watch", "--interval", "60", timeout=30)
    assert ended.returncode == 0, ended.stderr
    assert "ended" in ended.stdout and "[" + "#" * 10 in ended.stdout
    assert "3/3 done: 2 succeeded, 1 with errors" in ended.stdout


# --- iam-policy -----------------------------------------------------------------------------------------

def policy_of(*args: str, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    result = run("iam-policy", "--job-table", "jobs", "--region-table", "regions", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_iam_policy_structure_actions_and_arns() -> None:
    policy = policy_of("--region", "eu-west-1", "--account-id", "123456789012")
    assert policy["Version"] == "2012-10-17"
    by_resource = {s["Resource"]: s for s in policy["Statement"]}
    assert set(by_resource) == {"arn:aws:dynamodb:eu-west-1:123456789012:table/jobs",
                                "arn:aws:dynamodb:eu-west-1:123456789012:table/regions"}
    job = by_resource["arn:aws:dynamodb:eu-west-1:123456789012:table/jobs"]
    region = by_resource["arn:aws:dynamodb:eu-west-1:123456789012:table/regions"]
    assert job["Effect"] == region["Effect"] == "Allow"
    assert job["Action"] == ["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert region["Action"] == ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    for statement in policy["Statement"]:
        assert set(statement) == {"Sid", "Effect", "Action", "Resource"}
        assert not any("*" in action for action in statement["Action"])

    # No --account-id (and no region anywhere): '*', as --help says.
    env = script_env()
    del env["AWS_DEFAULT_REGION"]
    anywhere = policy_of(env=env)
    assert [s["Resource"] for s in anywhere["Statement"]] == ["arn:aws:dynamodb:*:*:table/jobs",
                                                              "arn:aws:dynamodb:*:*:table/regions"]
    assert "'*'" in run("iam-policy", "--help").stdout
    assert policy_of(env=script_env(AWS_DEFAULT_REGION="cn-north-1"))["Statement"][0]["Resource"].startswith(
        "arn:aws-cn:dynamodb:cn-north-1:*:table/")


def a_whole_image(job_table: JobTable, region_table: RegionRequestTable) -> None:
    """Every call a worker makes for an image, including retries, duplicates and redrives."""
    tile_a, tile_b = [[0, 0], [8, 8]], [[8, 0], [8, 8]]
    job_table.start_image_request(JobItem(image_id="img", job_id="j", region_count=2))
    with pytest.raises(ImageRequestExistsError):
        job_table.start_image_request(JobItem(image_id="img", job_id="j", region_count=2))
    job_table.update_image_request(JobItem(image_id="img", model_name="model"))
    job_table.get_image_request("img")

    good = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="good", total_tiles=2))
    region_table.add_tile("img", "good", tile_a, TileState.SUCCEEDED)
    region_table.add_tile("img", "good", tile_a, TileState.SUCCEEDED)  # a retry: refused, then read
    region_table.add_tiles("img", "good", [tile_a, tile_b], TileState.SUCCEEDED)
    region_table.update_region_request(RegionRequestItem(image_id="img", region_id="good", message="working"))
    complete_region(job_table, region_table, good, RequestStatus.SUCCESS)
    complete_region(job_table, region_table, good, RequestStatus.SUCCESS)  # a duplicate: counted once

    bad = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="bad", total_tiles=2))
    region_table.add_tile("img", "bad", tile_a, TileState.FAILED)
    complete_region(job_table, region_table, bad, RequestStatus.FAILED)
    bad = region_table.start_region_request(bad)  # redriven, fails again: the counters stay (a condition check)
    complete_region(job_table, region_table, bad, RequestStatus.PARTIAL)
    bad = region_table.start_region_request(bad)  # redriven again, succeeds
    region_table.add_tiles("img", "bad", tiles_to_process(bad, [tile_a, tile_b]), TileState.SUCCEEDED)
    complete_region(job_table, region_table, bad, RequestStatus.SUCCESS)

    region_table.list_regions("img")
    region_table.get_region_request("good", "img")
    job = job_table.get_image_request("img")
    assert JobTable.is_image_request_complete(job)
    job_table.end_image_request("img")
    with pytest.raises(ImageAlreadyEndedError):
        job_table.end_image_request("img")
    # The seed's separate completions, still part of the API.
    other = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="other"))
    region_table.complete_region_request(other, RequestStatus.SUCCESS)
    job_table.complete_region_request("img", error=False)


@local
def test_iam_policy_allows_exactly_the_calls_a_worker_makes(dynamodb_local: Any) -> None:
    job_table, region_table = Backend("dynamodb_local", dynamodb_local.endpoint).tables(f"iam-{uuid.uuid4().hex[:8]}")
    calls: Set[Tuple[str, str]] = set()  # (IAM action, table name) of every request sent

    def record(model: Any, params: Dict[str, Any], **_: Any) -> None:
        body = json.loads(params["body"])
        if model.name == "TransactWriteItems":
            for item in body["TransactItems"]:
                ((kind, request),) = item.items()
                calls.add((TRANSACT_ACTIONS[kind], request["TableName"]))
        else:
            calls.add((f"dynamodb:{model.name}", body["TableName"]))

    clients = clients_of(job_table, region_table)
    for client in clients:
        client.meta.events.register("before-call.dynamodb", record)
    try:
        a_whole_image(job_table, region_table)
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb", record)
        for table in (job_table, region_table):
            table.model.delete_table()

    policy = policy_of("--job-table", job_table.table_name, "--region-table", region_table.table_name)
    allowed = {(action, statement["Resource"].rsplit("/", 1)[-1])
               for statement in policy["Statement"] for action in statement["Action"]}
    assert calls == allowed


# --- demo -------------------------------------------------------------------------------------------

def test_demo_on_its_embedded_dynamodb() -> None:
    result = run("demo", "--workers", "2", env=script_env(), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded DynamoDB (moto server) at http://127.0.0.1:" in result.stdout
    assert "crashed" in result.stdout and "redelivery" in result.stdout and "duplicate" in result.stdout
    checks = result.stdout.split("\nchecks\n")[1].splitlines()
    assert len(checks) == 7 and all(line.strip().startswith("ok") for line in checks)


@local
def test_demo_against_dynamodb_local_leaves_exact_counts(tables: Tables) -> None:
    result = tables.run("demo", "--image-id", "demo-image", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded" not in result.stdout

    job_table, region_table = tables.library()
    job = job_table.get_image_request("demo-image")
    assert (job.region_success, job.region_error, job.region_count) == (6, 2, 8)
    assert job.end_time is not None
    regions = {r.region_id: r for r in region_table.list_regions("demo-image")}
    expected = {f"region-{n:02d}": "SUCCESS" for n in range(8)}
    expected.update({"region-02": "PARTIAL", "region-05": "FAILED"})
    assert {rid: r.region_status for rid, r in regions.items()} == expected
    tiles = {rid: (r.succeeded_tile_count, len(r.succeeded_tiles or []), r.failed_tile_count, len(r.failed_tiles or []))
             for rid, r in regions.items()}
    assert tiles == {rid: {"region-02": (5, 5, 1, 1), "region-05": (0, 0, 6, 6)}.get(rid, (6, 6, 0, 0))
                     for rid in expected}
    assert regions["region-03"].region_retry_count == 1  # crashed, redelivered, finished


def test_demo_checks_fail_when_a_count_is_off() -> None:
    # What the demo's exit code rests on: counts off by one (and no regions, no events) fail their checks.
    job = JobItem(image_id="i", region_success=5, region_error=3, region_count=8, end_time=1)
    (no_errors, _), *rest = DemoResult(Scenario(), job, {}, []).checks()
    assert no_errors and len(rest) == 6
    assert not any(ok for ok, _ in rest)
    assert rest[0][1].startswith("job counters exact: region_success 5 (expected 6)")


def test_demo_without_moto_says_so_in_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "moto"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('No module named moto')\n")
    result = run("demo", env=script_env(PYTHONPATH=str(tmp_path)))
    assert_one_line_error(result, "pip install 'pynamodb_tables[demo]'")


# --- the command line itself --------------------------------------------------------------------------

@pytest.mark.parametrize("args, code, fragment", [
    (["create-tables", "--job-table", "jobs", "--region-table", "regions", "--billing-mode", "PROVISIONED"], 2,
     "--read-capacity"),
    (["create-tables", "--job-table", "jobs", "--region-table", "regions", "--read-capacity", "5"], 2,
     "PROVISIONED"),
    (["create-tables", "--billing-mode", "SOMETIMES"], 2, "invalid choice"),
    (["status", "img"], 1, "no job table name: pass --job-table or set JOB_TABLE"),
    (["status", "img", "--job-table", "jobs", "--region-table", "regions", "--interval", "-1"], 2, "--interval"),
    (["iam-policy", "--job-table", "no/slash", "--region-table", "regions"], 1, "invalid table name"),
    (["iam-policy", "--job-table", "jobs", "--region-table", "regions", "--account-id", "12"], 2, "--account-id"),
    (["frobnicate"], 2, "invalid choice"),
    ([], 2, "COMMAND"),
])
def test_usage_errors_are_one_line(args: List[str], code: int, fragment: str) -> None:
    result = run(*args)
    assert_one_line_error(result, fragment)
    assert result.returncode == code


def test_unreachable_endpoint_is_one_line() -> None:
    result = run("describe-tables", "--endpoint-url", "http://127.0.0.1:9", "--job-table", "jobs",
                 "--region-table", "regions")
    assert_one_line_error(result, "Could not connect to the endpoint URL")


def test_runs_as_a_module() -> None:
    result = subprocess.run([sys.executable, "-m", "pynamodb_tables", "--help"], capture_output=True, text=True,
                            env=script_env(), timeout=60)
    assert result.returncode == 0
    for command in ("create-tables", "describe-tables", "delete-tables", "status", "iam-policy", "demo"):
        assert command in result.stdout
