"""What DynamoDB holds for each table (``describe-tables``), and how it differs from the contract.

``describe-tables --json`` prints ``{"ok": bool, "tables": [...]}``, one entry per table with
``role`` (``job``, ``region_request``), ``name``, ``exists``, ``status``, ``key_schema`` (list of
``attribute``, ``key_type``, ``type``), ``billing_mode``, ``read_capacity``, ``write_capacity``,
``ttl_status``, ``ttl_attribute``, ``point_in_time_recovery``, ``deletion_protection`` (bool),
``encryption`` (``DEFAULT``: DynamoDB's own key; ``KMS``), ``kms_key_arn``, ``tags`` (object;
``null`` where the endpoint cannot list them, as DynamoDB Local), ``item_count``, ``problems``
(list of text) and ``matches_contract``.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from botocore.exceptions import ClientError

from ..reads import Table, key_names, pages
from .definition import PROVISIONED, Key, model_keys, model_ttl_attribute
from .errors import error_code
from .settings import TablePair

TTL_ON = ("ENABLED", "ENABLING")
UNSUPPORTED = "UnknownOperationException"  # DynamoDB Local's answer to what it does not implement


@dataclass
class TableReport:
    """What DynamoDB holds for one table."""

    role: str
    name: str
    expected_keys: List[Key]  # the contract's
    expected_ttl: str
    exists: bool = False
    status: Optional[str] = None
    arn: Optional[str] = None
    key_schema: List[Key] = field(default_factory=list)
    billing_mode: Optional[str] = None
    read_capacity: Optional[int] = None
    write_capacity: Optional[int] = None
    ttl_status: Optional[str] = None
    ttl_attribute: Optional[str] = None
    deletion_protection: Optional[bool] = None
    encryption: Optional[str] = None
    kms_key_arn: Optional[str] = None
    point_in_time_recovery: Optional[str] = None
    tags: Optional[Dict[str, str]] = None
    tags_note: Optional[str] = None  # why the tags are unknown
    item_count: Optional[int] = None

    def conflicts(self) -> List[str]:
        """What create-tables must not change: other keys, or TTL on another attribute."""
        found = []
        if self.exists and self.key_schema != self.expected_keys:
            found.append(f"key schema is {format_keys(self.key_schema)}, expected {format_keys(self.expected_keys)}")
        if self.ttl_status in TTL_ON and self.ttl_attribute != self.expected_ttl:
            found.append(f"TTL is on {self.ttl_attribute!r}, expected {self.expected_ttl!r}")
        return found

    def problems(self) -> List[str]:
        """Every way the table differs from the contract."""
        if not self.exists:
            return ["does not exist"]
        ttl = [] if self.ttl_status in TTL_ON else [f"TTL is {self.ttl_status} (create-tables enables it)"]
        return self.conflicts() + ttl

    def as_json(self) -> Dict[str, Any]:
        keys = [{"attribute": name, "key_type": key_type, "type": kind} for name, key_type, kind in self.key_schema]
        return {"role": self.role.replace(" ", "_"), "name": self.name, "exists": self.exists, "status": self.status,
                "key_schema": keys, "billing_mode": self.billing_mode, "read_capacity": self.read_capacity,
                "write_capacity": self.write_capacity, "ttl_status": self.ttl_status,
                "ttl_attribute": self.ttl_attribute, "point_in_time_recovery": self.point_in_time_recovery,
                "deletion_protection": self.deletion_protection, "encryption": self.encryption,
                "kms_key_arn": self.kms_key_arn, "tags": self.tags, "item_count": self.item_count,
                "problems": self.problems(), "matches_contract": not self.problems()}


def format_keys(keys: List[Key]) -> str:
    return ", ".join(f"{name} ({key_type}, {kind})" for name, key_type, kind in keys) or "none"


def stored_keys(description: Dict[str, Any]) -> List[Key]:
    """The key schema of a ``DescribeTable`` answer, hash key first."""
    types = {d["AttributeName"]: d["AttributeType"] for d in description.get("AttributeDefinitions", [])}
    keys = [(k["AttributeName"], k["KeyType"], types.get(k["AttributeName"], "?"))
            for k in description.get("KeySchema", [])]
    return sorted(keys, key=lambda key: key[1] != "HASH")


def table_description(client: Any, name: str) -> Optional[Dict[str, Any]]:
    """The table's ``DescribeTable`` answer, or ``None`` when there is no such table."""
    try:
        return dict(client.describe_table(TableName=name)["Table"])
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def pitr_of(client: Any, name: str) -> str:
    """The point-in-time recovery status; ``unsupported`` where the endpoint lacks the operation."""
    try:
        backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    except ClientError as exc:
        code = error_code(exc)
        return "unsupported" if code == UNSUPPORTED else f"unknown ({code})"
    return str(backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "DISABLED"))


def tags_of(client: Any, arn: str) -> Dict[str, str]:
    """The table's tags, every page (raises ``ClientError`` where the endpoint cannot list them)."""
    tags: Dict[str, str] = {}
    token: Dict[str, str] = {}
    while True:
        answer = client.list_tags_of_resource(ResourceArn=arn, **token)
        tags.update({tag["Key"]: tag["Value"] for tag in answer.get("Tags", [])})
        if not answer.get("NextToken"):
            return tags
        token = {"NextToken": answer["NextToken"]}


def read_tags(report: TableReport, client: Any) -> None:
    """``report.tags``, or why they are unknown in ``report.tags_note``."""
    try:
        report.tags = tags_of(client, str(report.arn))
    except ClientError as exc:
        code = error_code(exc)
        report.tags_note = "unsupported by this endpoint" if code == UNSUPPORTED else f"unknown ({code})"


def count_items(table: Table) -> int:
    """Items in the table, counted by a scan of their keys (every page)."""
    keys = list(key_names(table))
    return sum(int(page["Count"]) for page in pages(table, "scan", attributes=keys))


def inspect(role: str, table: Table, *, details: bool = False, approximate: bool = False) -> TableReport:
    """What DynamoDB holds for ``table``; ``details`` adds PITR, tags and the item count."""
    client, name = table.clients()[0], table.table_name
    report = TableReport(role, name, model_keys(table), model_ttl_attribute(table))
    description = table_description(client, name)
    if description is None:
        return report
    throughput = description.get("ProvisionedThroughput", {})
    ttl = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    sse = description.get("SSEDescription") or {}
    report.exists = True
    report.status, report.arn = description.get("TableStatus"), description.get("TableArn")
    report.key_schema = stored_keys(description)
    report.billing_mode = description.get("BillingModeSummary", {}).get("BillingMode", PROVISIONED)
    if report.billing_mode == PROVISIONED:
        report.read_capacity = throughput.get("ReadCapacityUnits")
        report.write_capacity = throughput.get("WriteCapacityUnits")
    report.ttl_status, report.ttl_attribute = ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")
    report.deletion_protection = bool(description.get("DeletionProtectionEnabled", False))
    report.encryption = "KMS" if sse.get("SSEType") == "KMS" else "DEFAULT"
    report.kms_key_arn = sse.get("KMSMasterKeyArn") if report.encryption == "KMS" else None
    if details:
        report.point_in_time_recovery = pitr_of(client, name)
        read_tags(report, client)
        report.item_count = description.get("ItemCount") if approximate else count_items(table)
    return report


def inspect_both(tables: TablePair, **options: bool) -> List[TableReport]:
    return [inspect(role, table, **options) for role, table in tables.roles()]
