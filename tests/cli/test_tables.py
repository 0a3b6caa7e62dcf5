"""create-tables, describe-tables and delete-tables, checked against what DynamoDB holds afterwards.

DynamoDB Local implements deletion protection but not tagging, KMS encryption (it accepts and
ignores them) or point-in-time recovery: those are tested on moto's server.
"""

import json
from typing import Any, Dict, List

import pytest
from botocore.exceptions import ClientError

from pynamodb_tables import JobItem, JobTable, RegionRequestItem, RegionRequestTable
from tests.support import management as support
from tests.support.management import JOB_KEYS, REGION_KEYS, Tables, assert_one_line_error, cli, local

tables, moto_endpoint, moto_tables = support.tables, support.moto_endpoint, support.moto_tables  # fixtures

KMS_ARN = "arn:aws:kms:us-east-1:123456789012:key/{}"


# --- create-tables ------------------------------------------------------------------------------

@local
def test_create_tables_makes_both_tables_on_demand_with_ttl_and_is_idempotent(tables: Tables) -> None:
    result = tables.run("create-tables")  # as an operator runs it
    assert result.returncode == 0, result.stderr
    assert "created (PAY_PER_REQUEST)" in result.stdout
    for name, keys in ((tables.job, JOB_KEYS), (tables.region, REGION_KEYS)):
        table = tables.describe(name)
        assert table is not None and table["TableStatus"] == "ACTIVE"
        assert tables.keys(name) == keys
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert not table["DeletionProtectionEnabled"]
        assert tables.ttl(name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expire_time"}
    created = {name: tables.describe(name)["CreationDateTime"] for name in (tables.job, tables.region)}

    again = tables.run("create-tables")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("exists (PAY_PER_REQUEST), left as is; TTL on expire_time already enabled") == 2
    assert {name: tables.describe(name)["CreationDateTime"] for name in created} == created


@local
def test_create_tables_provisioned(tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    result = tables.cli(capsys, "create-tables", "--billing-mode", "PROVISIONED", "--read-capacity", "3",
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
def test_create_tables_turns_ttl_on_for_existing_tables_and_leaves_them_otherwise(
        tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    tables.create_raw(tables.job, ("image_id", "HASH"))
    tables.create_raw(tables.region, ("image_id", "HASH"), ("region_id", "RANGE"))
    created = {name: tables.describe(name)["CreationDateTime"] for name in (tables.job, tables.region)}

    result = tables.cli(capsys, "create-tables")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("left as is; TTL on expire_time enabled") == 2
    for name in created:
        assert tables.ttl(name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expire_time"}
    assert {name: tables.describe(name)["CreationDateTime"] for name in created} == created


@local
def test_create_tables_refuses_a_table_with_another_key_schema_and_changes_nothing(
        tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    tables.create_raw(tables.region, ("image_id", "HASH"))  # no range key

    result = tables.cli(capsys, "create-tables")
    assert_one_line_error(result, f"region request table '{tables.region}'", "key schema", "nothing was changed")
    assert tables.describe(tables.job) is None  # the job table (checked fine) was not created either
    assert tables.keys(tables.region) == JOB_KEYS
    assert tables.ttl(tables.region) == {"TimeToLiveStatus": "DISABLED"}
    assert_one_line_error(tables.cli(capsys, "describe-tables"), "does not match the contract")


@local
def test_create_tables_pitr_on_dynamodb_local_makes_both_tables_and_says_pitr_was_not_applied(
        tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    for run in ("first", "again"):
        result = tables.cli(capsys, "create-tables", "--pitr")
        assert_one_line_error(result, "not applied by the endpoint: ", f"job table '{tables.job}': --pitr "
                              "(UnknownOperationException: point-in-time recovery not enabled); "
                              f"region request table '{tables.region}': --pitr (UnknownOperationException",
                              "(both tables exist)")
        assert result.returncode == 1
        assert result.stdout.count("created (PAY_PER_REQUEST)" if run == "first" else "left as is") == 2
        assert "point-in-time recovery enabled" not in result.stdout
        for name in (tables.job, tables.region):  # both made, both with TTL
            assert tables.describe(name)["TableStatus"] == "ACTIVE"
            assert tables.ttl(name)["TimeToLiveStatus"] == "ENABLED"


@local
def test_kms_key_on_dynamodb_local_is_said_not_applied_and_so_is_the_conflict_after(
        tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    key = KMS_ARN.format("0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e")
    result = tables.cli(capsys, "create-tables", "--kms-key", key)
    assert_one_line_error(result, f"job table '{tables.job}': --kms-key (the table was made with DynamoDB's own key)",
                          "(both tables exist)")
    assert "encrypted with" not in result.stdout and result.stdout.count("created") == 2
    again = tables.cli(capsys, "create-tables", "--kms-key", key)
    assert_one_line_error(again, "encrypted with DynamoDB's own key, not --kms-key", "nothing was changed")


@local
def test_create_tables_makes_both_tables_or_neither(tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    job_table, region_table = (JobTable(tables.job, host=tables.endpoint, region="us-east-1"),
                               RegionRequestTable(tables.region, host=tables.endpoint, region="us-east-1"))

    def refuse_the_region_table(params: Dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == tables.region:
            raise ClientError({"Error": {"Code": "LimitExceededException", "Message": "too many tables"}},
                              "CreateTable")

    clients = {id(c): c for c in (job_table.clients()[0], region_table.clients()[0])}.values()  # the script's
    for client in clients:
        client.meta.events.register("before-parameter-build.dynamodb.CreateTable", refuse_the_region_table)
    try:
        result = tables.cli(capsys, "create-tables", "--deletion-protection")
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build.dynamodb.CreateTable", refuse_the_region_table)
    assert_one_line_error(result, f"region request table '{tables.region}' not created", "LimitExceededException",
                          f"'{tables.job}', created before it, deleted again; no table was left created")
    assert result.returncode == 1
    assert tables.describe(tables.job) is None and tables.describe(tables.region) is None


def test_create_tables_pitr_on_moto_server(moto_tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    # DynamoDB Local lacks UpdateContinuousBackups (test above): moto's server implements it.
    result = moto_tables.cli(capsys, "create-tables", "--pitr")
    assert result.returncode == 0, result.stderr
    for name in (moto_tables.job, moto_tables.region):
        backups = moto_tables.client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert [t["point_in_time_recovery"] for t in moto_tables.described(capsys)] == ["ENABLED", "ENABLED"]


@local
def test_deletion_protection_on_new_and_existing_tables_and_delete_tables_refuses_them(
        tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    tables.create_raw(tables.job, ("image_id", "HASH"))  # an existing table without protection

    result = tables.cli(capsys, "create-tables", "--deletion-protection")
    assert result.returncode == 0, result.stderr
    job_line, region_line = result.stdout.splitlines()
    assert job_line.endswith("deletion protection turned on")
    assert region_line.startswith("region request table") and "created" in region_line
    assert region_line.endswith("deletion protection on")
    assert all(tables.describe(name)["DeletionProtectionEnabled"] for name in (tables.job, tables.region))
    assert [t["deletion_protection"] for t in tables.described(capsys)] == [True, True]
    assert tables.cli(capsys, "describe-tables").stdout.count("deletion protection     on") == 2

    again = tables.cli(capsys, "create-tables", "--deletion-protection")
    assert again.returncode == 0 and again.stdout.count("deletion protection already on") == 2

    refused = tables.run("delete-tables", "--yes")  # as an operator runs it
    assert_one_line_error(refused, f"job table '{tables.job}' and region request table '{tables.region}' have "
                                   "deletion protection on", "turn it off first", "nothing was deleted")
    assert refused.returncode == 1
    assert tables.describe(tables.job) is not None and tables.describe(tables.region) is not None

    # One protected table is enough to delete neither.
    tables.client.update_table(TableName=tables.job, DeletionProtectionEnabled=False)
    assert_one_line_error(tables.cli(capsys, "delete-tables", "--yes"),
                          f"region request table '{tables.region}' has deletion protection on")
    assert tables.describe(tables.job) is not None


@local
def test_tags_on_dynamodb_local_which_does_not_implement_tagging(
        tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in ("first", "again"):  # CreateTable takes the tags and ignores them: said, each time
        result = tables.cli(capsys, "create-tables", "--tag", "team=imagery")
        assert_one_line_error(result, f"job table '{tables.job}': --tag team=imagery (UnknownOperationException: "
                                      "the endpoint cannot tag tables)", f"region request table '{tables.region}'")
        assert result.returncode == 1 and "tagged" not in result.stdout
    job, region = tables.described(capsys)
    assert job["tags"] is None and region["tags"] is None
    text = tables.cli(capsys, "describe-tables").stdout
    assert text.count("tags                    unsupported by this endpoint") == 2


def test_tags_on_moto_server_added_to_what_a_table_has(moto_tables: Tables,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    result = moto_tables.run("create-tables", "--tag", "team=imagery", "--tag", "env=test")  # as an operator runs it
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("tagged team=imagery, env=test") == 2
    assert [t["tags"] for t in moto_tables.described(capsys)] == [{"team": "imagery", "env": "test"}] * 2

    more = moto_tables.cli(capsys, "create-tables", "--tag", "env=prod", "--tag", "team=imagery")
    assert more.returncode == 0 and more.stdout.count("; tagged env=prod") == 2
    same = moto_tables.cli(capsys, "create-tables", "--tag", "env=prod")
    assert same.stdout.count("already tagged env=prod") == 2
    for name in (moto_tables.job, moto_tables.region):
        arn = moto_tables.describe(name)["TableArn"]
        stored = moto_tables.client.list_tags_of_resource(ResourceArn=arn)["Tags"]
        assert {t["Key"]: t["Value"] for t in stored} == {"team": "imagery", "env": "prod"}
    assert "tags                    env=prod, team=imagery" in moto_tables.cli(capsys, "describe-tables").stdout


def test_kms_key_on_moto_server_and_a_table_encrypted_otherwise_is_a_conflict(
        moto_tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    key, other = moto_tables.kms_key(), moto_tables.kms_key()
    result = moto_tables.run("create-tables", "--kms-key", key)  # as an operator runs it
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"encrypted with KMS key {key}") == 2
    for name in (moto_tables.job, moto_tables.region):
        sse = moto_tables.describe(name)["SSEDescription"]
        assert (sse["SSEType"], sse["KMSMasterKeyArn"]) == ("KMS", key)
    assert [(t["encryption"], t["kms_key_arn"]) for t in moto_tables.described(capsys)] == [("KMS", key)] * 2
    assert f"encryption              KMS key {key}" in moto_tables.cli(capsys, "describe-tables").stdout

    again = moto_tables.cli(capsys, "create-tables", "--kms-key", key)
    assert again.returncode == 0 and again.stdout.count("already encrypted with that KMS key") == 2

    conflict = moto_tables.cli(capsys, "create-tables", "--kms-key", other, "--deletion-protection")
    assert_one_line_error(conflict, f"job table '{moto_tables.job}': encrypted with KMS key {key}, not --kms-key "
                                    f"{other}", "does not re-encrypt", "nothing was changed")
    assert not moto_tables.describe(moto_tables.job)["DeletionProtectionEnabled"]  # nothing changed indeed


def test_kms_key_asked_of_a_table_on_dynamodbs_own_key_is_a_conflict(
        moto_tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    assert moto_tables.cli(capsys, "create-tables").returncode == 0
    assert [(t["encryption"], t["kms_key_arn"]) for t in moto_tables.described(capsys)] == [("DEFAULT", None)] * 2
    assert_one_line_error(moto_tables.cli(capsys, "create-tables", "--kms-key", moto_tables.kms_key()),
                          "encrypted with DynamoDB's own key", "nothing was changed")


# --- describe-tables and delete-tables ----------------------------------------------------------------

@local
def test_describe_tables(tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tables.cli(capsys, "describe-tables")
    assert_one_line_error(missing, "does not exist")
    assert missing.stdout.count("does not exist") == 2

    assert tables.cli(capsys, "create-tables").returncode == 0
    job_table, region_table = tables.library()
    for image in ("img-1", "img-2"):
        job_table.start_image_request(JobItem(image_id=image, region_count=3))
    for region in ("r-0", "r-1", "r-2"):
        region_table.start_region_request(RegionRequestItem(image_id="img-1", region_id=region))

    text = tables.run("describe-tables")  # as an operator runs it
    assert text.returncode == 0, text.stderr
    assert "image_id (HASH, S), region_id (RANGE, S)" in text.stdout
    assert text.stdout.count("ENABLED on expire_time") == 2
    assert text.stdout.count("contract                matches") == 2
    assert text.stdout.count("deletion protection     off") == 2
    assert text.stdout.count("encryption              DynamoDB's own key (DEFAULT)") == 2

    result = tables.cli(capsys, "describe-tables", "--json")
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert described["ok"] is True
    job, region = described["tables"]
    assert set(job) == {"role", "name", "exists", "status", "key_schema", "billing_mode", "read_capacity",
                        "write_capacity", "ttl_status", "ttl_attribute", "point_in_time_recovery",
                        "deletion_protection", "encryption", "kms_key_arn", "tags", "item_count", "problems",
                        "matches_contract"}
    assert (job["role"], job["name"], region["role"], region["name"]) == (
        "job", tables.job, "region_request", tables.region)
    assert [(k["attribute"], k["key_type"], k["type"]) for k in region["key_schema"]] == REGION_KEYS
    assert (job["status"], job["billing_mode"], job["ttl_status"], job["ttl_attribute"]) == (
        "ACTIVE", "PAY_PER_REQUEST", "ENABLED", "expire_time")
    assert (job["item_count"], region["item_count"]) == (2, 3)
    assert job["point_in_time_recovery"] == "unsupported"  # by DynamoDB Local
    assert (job["deletion_protection"], job["encryption"], job["kms_key_arn"]) == (False, "DEFAULT", None)
    assert job["problems"] == [] and region["matches_contract"] is True

    approximate = tables.cli(capsys, "describe-tables", "--json", "--approximate")
    assert approximate.returncode == 0, approximate.stderr
    assert all(isinstance(t["item_count"], int) for t in json.loads(approximate.stdout)["tables"])


@local
def test_delete_tables_refuses_without_yes(tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    assert tables.cli(capsys, "create-tables").returncode == 0

    assert_one_line_error(tables.cli(capsys, "delete-tables"), "--yes", tables.job, tables.region)
    assert tables.describe(tables.job) is not None and tables.describe(tables.region) is not None

    deleted = tables.cli(capsys, "delete-tables", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert tables.describe(tables.job) is None and tables.describe(tables.region) is None
    again = tables.cli(capsys, "delete-tables", "--yes")
    assert again.returncode == 0 and again.stdout.count("not found, nothing to delete") == 2


@pytest.mark.parametrize("args, fragment", [
    (["--kms-key", "alias/my-key"], "expected a KMS key ARN"),
    (["--kms-key", KMS_ARN.format("abc") + "/x"], "expected a KMS key ARN"),
    (["--tag", "team"], "expected KEY=VALUE"),
    (["--tag", "=imagery"], "expected KEY=VALUE"),
    (["--tag", "aws:team=imagery"], "not starting aws:"),
    (["--tag", "team=a", "--tag", "team=b"], "--tag team given more than once"),
])
def test_table_option_usage_errors(args: List[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("create-tables", "template"):
        result = cli(capsys, command, "--job-table", "jobs", "--region-table", "regions", *args)
        assert_one_line_error(result, fragment)
        assert result.returncode == 2
