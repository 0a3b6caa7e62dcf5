"""iam-policy and template: what a worker may do on the tables, and the tables declared for CloudFormation.

docs/management.md's "Deploy the tables as code" block is what the template tests run.

The template is checked three ways: against the requests ``create-tables`` sends for the same
options (the same definition, so they cannot drift), with cfn-lint (CloudFormation's own
resource schemas), and deployed by moto's CloudFormation next to tables ``create-tables`` made.
"""

import json
import uuid
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import botocore.session
import pytest
from cfnlint.api import lint

from pynamodb_tables import (
    ImageAlreadyEndedError,
    ImageRequestExistsError,
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    complete_region,
)
from tests.support import management as support
from tests.support.backends import Backend
from tests.support.faults import clients_of
from tests.support.management import Tables, cli, local, run, script_env

moto_endpoint, moto_tables = support.moto_endpoint, support.moto_tables  # fixtures

#: The IAM action of each kind of item in a TransactWriteItems request.
TRANSACT_ACTIONS = {"Update": "dynamodb:UpdateItem", "ConditionCheck": "dynamodb:ConditionCheckItem",
                    "Put": "dynamodb:PutItem", "Delete": "dynamodb:DeleteItem"}


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
    assert job["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
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


#: The actions the model runner's deployed worker role allows on its tables (its CDK role,
#: ``cdk/lib/constructs/model-runner/ecs-roles.ts`` upstream). It has no ``ConditionCheckItem``.
MODEL_RUNNER_ROLE = frozenset(f"dynamodb:{action}" for action in (
    "BatchGetItem", "BatchWriteItem", "PutItem", "ListTables", "DeleteItem", "GetItem", "Query", "Scan",
    "UpdateItem", "UpdateTable"))
OUTCOMES = (RequestStatus.SUCCESS, RequestStatus.PARTIAL, RequestStatus.FAILED)
TILE_A, TILE_B = [[0, 0], [8, 8]], [[8, 0], [8, 8]]


def finish(how: str, job_table: JobTable, region_table: RegionRequestTable, region: RegionRequestItem,
           outcome: RequestStatus) -> None:
    """A region's outcome, the way ``how`` says: ``complete_region``, or a ``TileRecorder``'s ``complete``."""
    if how == "complete_region":
        complete_region(job_table, region_table, region, outcome)
        return
    recorder = TileRecorder(region_table, region.image_id, region.region_id, region=region)
    recorder.record(TILE_B, TileState.SUCCEEDED if outcome is RequestStatus.SUCCESS else TileState.FAILED)
    recorder.complete(job_table, outcome)


def every_outcome_after_every_outcome(job_table: JobTable, region_table: RegionRequestTable, how: str) -> int:
    """For each pair of outcomes, a region completed with the first, redriven, completed with the second
    (a SUCCESS region's redrive is refused), then completed again (a duplicate); returns the regions made."""
    regions = 0
    for first in OUTCOMES:
        for second in OUTCOMES:
            region_id = f"{how}-{first.value}-{second.value}"
            regions += 1
            region = region_table.start_region_request(RegionRequestItem(image_id="img", region_id=region_id,
                                                                         total_tiles=2))
            region_table.add_tile("img", region_id, TILE_A, TileState.FAILED)
            finish(how, job_table, region_table, region, first)
            region = region_table.start_region_request(region)  # redriven (a SUCCESS region: replayed)
            if region.region_status == "SUCCESS":
                continue
            finish(how, job_table, region_table, region, second)
            finish(how, job_table, region_table, region, second)  # delivered again: counted once
    return regions


def a_whole_image(job_table: JobTable, region_table: RegionRequestTable) -> None:
    """Every call a worker makes for an image, including retries, duplicates and redrives."""
    job_table.start_image_request(JobItem(image_id="img", job_id="j", region_count=2 + 2 * len(OUTCOMES) ** 2))
    job_table.start_image_request(JobItem(image_id="img", job_id="j", region_count=2))  # a new attempt
    with pytest.raises(ImageRequestExistsError):
        job_table.start_image_request(JobItem(image_id="img", job_id="another", region_count=2))
    job_table.update_image_request(JobItem(image_id="img", model_name="model"))
    job_table.get_image_request("img")

    good = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="good", total_tiles=2))
    region_table.start_region_request(RegionRequestItem(image_id="img", region_id="good", total_tiles=2))  # queued
    region_table.add_tile("img", "good", TILE_A, TileState.SUCCEEDED)
    region_table.add_tile("img", "good", TILE_A, TileState.SUCCEEDED)  # a retry: refused, then read
    region_table.add_tiles("img", "good", [TILE_A, TILE_B], TileState.SUCCEEDED)
    region_table.record_tiles("img", "good", {TileState.FAILED: [TILE_B]})
    region_table.update_region_request(RegionRequestItem(image_id="img", region_id="good", message="working"))
    good = region_table.get_region_request("good", "img")
    complete_region(job_table, region_table, good, RequestStatus.SUCCESS)
    complete_region(job_table, region_table, good, RequestStatus.SUCCESS)  # a duplicate: counted once
    assert region_table.get_region_request("nowhere", "img") is None

    for how in ("complete_region", "recorder"):
        every_outcome_after_every_outcome(job_table, region_table, how)

    region_table.list_regions("img")
    # The seed's separate completions, still part of the API.
    other = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="other"))
    region_table.complete_region_request(other, RequestStatus.SUCCESS)
    job = job_table.complete_region_request("img", error=False)
    assert JobTable.is_image_request_complete(job)
    job_table.end_image_request("img")
    with pytest.raises(ImageAlreadyEndedError):
        job_table.end_image_request("img")


@local
def test_every_request_of_an_image_with_redrives_is_allowed_by_the_model_runners_role(dynamodb_local: Any) -> None:
    """Each request a worker sends, and each item action inside its transactions, as IAM authorises it
    (a TransactWriteItems is authorised per item: Update needs UpdateItem, ConditionCheck needs
    ConditionCheckItem): all in the model runner's deployed role, and ``iam-policy`` prints exactly them."""
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

    assert {action for action, _ in calls} <= MODEL_RUNNER_ROLE, sorted(calls)
    policy = policy_of("--job-table", job_table.table_name, "--region-table", region_table.table_name)
    allowed = {(action, statement["Resource"].rsplit("/", 1)[-1])
               for statement in policy["Statement"] for action in statement["Action"]}
    assert calls == allowed


# --- template -------------------------------------------------------------------------------------------

KMS_ARN = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"
OPTION_SETS = [
    [],
    ["--pitr", "--deletion-protection", "--tag", "team=imagery", "--tag", "env=prod"],
    ["--billing-mode", "PROVISIONED", "--read-capacity", "5", "--write-capacity", "3", "--kms-key", KMS_ARN],
]


def template_of(capsys: pytest.CaptureFixture[str], tables: Tables, *options: str) -> Dict[str, Any]:
    result = tables.cli(capsys, "template", *options)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.fixture
def sent(moto_tables: Tables) -> Iterator[List[Tuple[str, Dict[str, Any]]]]:
    """Every DynamoDB request (operation, parameters) the script sends to ``moto_tables`` in this process."""
    requests: List[Tuple[str, Dict[str, Any]]] = []

    def record(params: Dict[str, Any], model: Any, **_: Any) -> None:
        requests.append((model.name, dict(params)))

    job_table, region_table = (JobTable(moto_tables.job, host=moto_tables.endpoint, region="us-east-1"),
                               RegionRequestTable(moto_tables.region, host=moto_tables.endpoint, region="us-east-1"))
    clients = [job_table.clients()[0], region_table.clients()[0]]  # the script's (tables are bound once)
    for client in clients:
        client.meta.events.register("before-parameter-build.dynamodb", record)
    yield requests
    for client in clients:
        client.meta.events.unregister("before-parameter-build.dynamodb", record)


@pytest.mark.parametrize("options", OPTION_SETS)
def test_template_declares_what_create_tables_sends(options: List[str], moto_tables: Tables,
                                                    sent: List[Tuple[str, Dict[str, Any]]],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    if "--kms-key" in options:  # a key moto knows
        options = [moto_tables.kms_key() if o == KMS_ARN else o for o in options]
    template = template_of(capsys, moto_tables, *options)
    result = moto_tables.cli(capsys, "create-tables", *options)
    assert result.returncode == 0, result.stderr

    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    resources = template["Resources"]
    assert list(resources) == ["JobTable", "RegionRequestTable"]
    for name, table in zip((moto_tables.job, moto_tables.region), resources.values()):
        assert table["Type"] == "AWS::DynamoDB::Table"
        properties = dict(table["Properties"])
        requests = {operation: params for operation, params in sent if params.get("TableName") == name}
        create = dict(requests["CreateTable"])
        sse, create_sse = properties.pop("SSESpecification"), create.pop("SSESpecification", None)
        assert sse == ({"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": create_sse["KMSMasterKeyId"]}
                       if create_sse else {"SSEEnabled": False})
        assert create_sse is None or create_sse == {"Enabled": True, "SSEType": "KMS",
                                                    "KMSMasterKeyId": create_sse["KMSMasterKeyId"]}
        ttl = properties.pop("TimeToLiveSpecification")
        assert ttl == requests["UpdateTimeToLive"]["TimeToLiveSpecification"] == {"AttributeName": "expire_time",
                                                                                  "Enabled": True}
        pitr = properties.pop("PointInTimeRecoverySpecification")
        assert pitr == requests.get("UpdateContinuousBackups", {}).get(
            "PointInTimeRecoverySpecification", {"PointInTimeRecoveryEnabled": False})
        assert properties == create  # keys, billing, capacity, deletion protection, tags: the very same
        retained = "Retain" if "--deletion-protection" in options else "Delete"
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == (retained, retained)
    assert set(template["Outputs"]) == {"JobTableName", "JobTableArn", "RegionRequestTableName",
                                        "RegionRequestTableArn"}


@pytest.mark.full
@pytest.mark.parametrize("options", OPTION_SETS)
def test_template_passes_cfn_lint(options: List[str], capsys: pytest.CaptureFixture[str]) -> None:
    template = template_of(capsys, Tables("http://127.0.0.1:9"), *options)
    assert [str(match) for match in lint(json.dumps(template))] == []

    # The check is live: a property CloudFormation does not know fails it.
    template["Resources"]["JobTable"]["Properties"]["SSESpecification"]["Enabled"] = True
    assert any("Enabled" in str(match) for match in lint(json.dumps(template)))


@pytest.mark.full
def test_template_deployed_by_cloudformation_makes_the_tables_create_tables_makes(
        moto_tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    key = moto_tables.kms_key()
    options = ["--deletion-protection", "--tag", "team=imagery", "--kms-key", key, "--billing-mode", "PROVISIONED",
               "--read-capacity", "4", "--write-capacity", "2"]
    stacked = Tables(moto_tables.endpoint)
    cloudformation = botocore.session.get_session().create_client(
        "cloudformation", endpoint_url=moto_tables.endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing")
    stack = f"tables-{uuid.uuid4().hex[:8]}"
    try:
        cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template_of(capsys, stacked, *options)))
        assert cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        assert moto_tables.cli(capsys, "create-tables", *options).returncode == 0

        compared = ("exists", "status", "key_schema", "billing_mode", "read_capacity", "write_capacity",
                    "deletion_protection", "tags")
        # moto's CloudFormation leaves TTL, PITR and SSEEnabled out (AWS's applies them): not compared here,
        # but in test_template_declares_what_create_tables_sends and by cfn-lint.
        by_stack = [{k: t[k] for k in compared} for t in stacked.described(capsys)]
        by_script = [{k: t[k] for k in compared} for t in moto_tables.described(capsys)]
        assert by_stack == by_script
        assert by_stack[0]["deletion_protection"] and by_stack[0]["tags"] == {"team": "imagery"}
        assert (by_stack[1]["read_capacity"], by_stack[1]["write_capacity"]) == (4, 2)
    finally:
        stacked.cleanup()


def test_template_needs_the_table_names(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "template", "--region-table", "regions")
    assert (result.returncode, result.stderr.strip()) == (
        2, "pynamodb-tables: error: no job table name: pass --job-table or set JOB_TABLE")
