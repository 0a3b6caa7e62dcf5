"""The tables in DynamoDB: what it holds for each (``describe-tables``) and how that differs from the
contract; ``create-tables`` and ``delete-tables`` bringing both to their definitions, or deleting them.

``describe-tables --json`` prints ``{"ok": bool, "tables": [...]}``, one entry per table with
``role`` (``job``, ``region_request``), ``name``, ``exists``, ``status``, ``key_schema`` (list of
``attribute``, ``key_type``, ``type``), ``billing_mode``, ``read_capacity``, ``write_capacity``,
``ttl_status``, ``ttl_attribute``, ``point_in_time_recovery``, ``deletion_protection`` (bool),
``encryption`` (``DEFAULT``: DynamoDB's own key; ``KMS``), ``kms_key_arn``, ``tags`` (object;
``null`` where the endpoint cannot list them, as DynamoDB Local), ``item_count``, ``problems``
(list of text) and ``matches_contract``.

Both tables are checked before either is changed: a table that conflicts (other keys, TTL on
another attribute, another encryption key than ``--kms-key``) stops ``create-tables`` with
nothing changed; a table with deletion protection stops ``delete-tables`` with nothing deleted.
``create-tables`` makes both tables or neither, and says what the endpoint did not apply.
"""

import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from botocore.exceptions import ClientError

from ..reads import Table, key_names, pages
from .arguments import TablePair
from .definition import PROVISIONED, Key, TableDefinition, TableOptions, definitions, model_keys, model_ttl_attribute
from .errors import CommandError, error_code

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


PITR_ATTEMPTS, PITR_RETRY_S = 20, 3.0  # a new table's continuous backups take a moment to become available
WAIT = {"Delay": 2, "MaxAttempts": 150}


@dataclass(frozen=True)
class TableResult:
    """What a command did to one table."""

    role: str
    name: str
    done: str


def encryption_conflicts(report: TableReport, options: TableOptions) -> List[str]:
    """An existing table encrypted otherwise than ``--kms-key`` asks (create-tables does not re-encrypt)."""
    if not report.exists or not options.kms_key or report.kms_key_arn == options.kms_key:
        return []
    now = f"KMS key {report.kms_key_arn}" if report.kms_key_arn else "DynamoDB's own key"
    return [f"encrypted with {now}, not --kms-key {options.kms_key} (create-tables does not re-encrypt a table)"]


def ensure_tables(tables: TablePair, options: TableOptions) -> Iterator[TableResult]:
    """Make both tables, then turn on what was asked, and say what each table got.

    Raises :class:`CommandError` before changing anything if either table conflicts; makes both
    tables or neither (a table made before the other failed is deleted again); and, once both
    exist, raises naming whatever was asked that the endpoint did not apply (DynamoDB Local has
    no point-in-time recovery, tagging or KMS encryption).
    """
    reports = inspect_both(tables)
    conflicts = [f"{r.role} table {r.name!r}: {c}" for r in reports
                 for c in [*r.conflicts(), *encryption_conflicts(r, options)]]
    if conflicts:
        raise CommandError("; ".join(conflicts) + "; nothing was changed")
    plans = [(table.clients()[0], definition, report)
             for (_, table), definition, report in zip(tables.roles(), definitions(tables, options), reports)]
    created = make_missing(plans)
    not_applied: List[str] = []
    for client, definition, report in plans:
        done, missing = configure(client, definition, report, created=definition.name in created)
        not_applied += [f"{definition.role} table {definition.name!r}: {each}" for each in missing]
        yield TableResult(definition.role, definition.name, "; ".join(done))
    if not_applied:
        raise CommandError(f"not applied by the endpoint: {'; '.join(not_applied)} (both tables exist)")


Plan = Tuple[Any, TableDefinition, TableReport]


def make_missing(plans: Sequence[Plan]) -> List[str]:
    """Create the tables that do not exist, all or none; the names of those created, once ACTIVE."""
    created: List[Tuple[Any, str]] = []
    for client, definition, report in plans:
        if report.exists:
            continue
        try:
            client.create_table(**definition.create_table_request())
        except ClientError as exc:
            undone = [name for _, name in created]
            for made_by, name in created:
                drop(made_by, name, definition.options.deletion_protection)
            raise CommandError(f"{definition.role} table {definition.name!r} not created: {exc}"
                               + (f"; {' and '.join(map(repr, undone))}, created before it, deleted again"
                                  if undone else "") + "; no table was left created") from exc
        created.append((client, definition.name))
    for client, name in created:
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    return [name for _, name in created]


def drop(client: Any, name: str, protected: bool) -> None:
    """Delete a table this command has just created (``protected``: with deletion protection, turned off first)."""
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    if protected:
        client.update_table(TableName=name, DeletionProtectionEnabled=False)
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    client.delete_table(TableName=name)
    client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=WAIT)


def configure(client: Any, definition: TableDefinition, report: TableReport, *, created: bool) -> Tuple[
        List[str], List[str]]:
    """Turn on what the definition asks of a table that exists now: what was done, and what the endpoint
    did not apply."""
    options, name, ttl = definition.options, definition.name, definition.ttl_attribute
    missing: List[str] = []
    if created:
        client.update_time_to_live(**definition.ttl_request())
        done = [f"created ({options.billing_mode}), TTL on {ttl} enabled"]
        stored = table_description(client, name) or {}
        key = (stored.get("SSEDescription") or {}).get("KMSMasterKeyArn")
        if options.kms_key:
            if key == options.kms_key:
                done.append(f"encrypted with KMS key {options.kms_key}")
            else:
                made_with = f"KMS key {key}" if key else "DynamoDB's own key"
                missing.append(f"--kms-key (the table was made with {made_with})")
        if options.deletion_protection and stored.get("DeletionProtectionEnabled"):
            done.append("deletion protection on")
        elif options.deletion_protection:
            missing.append("--deletion-protection")
    else:
        if report.status != "ACTIVE":
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
        done = [f"exists ({report.billing_mode}), left as is"]
        if report.ttl_status in TTL_ON:
            done.append(f"TTL on {ttl} already {str(report.ttl_status).lower()}")
        else:
            client.update_time_to_live(**definition.ttl_request())
            done.append(f"TTL on {ttl} enabled")
        if options.kms_key:
            done.append("already encrypted with that KMS key")
        if options.deletion_protection:
            done.append(protect(client, report))
    if options.tags:
        applied, outcome = tag(client, name, options, created)
        (done if applied else missing).append(outcome)
    if options.pitr:
        problem = enable_pitr(client, definition)
        (missing if problem else done).append(problem or "point-in-time recovery enabled")
    return done, missing


def format_tags(tags: Sequence[Tuple[str, str]]) -> str:
    return ", ".join(f"{key}={value}" for key, value in tags)


def protect(client: Any, report: TableReport) -> str:
    if report.deletion_protection:
        return "deletion protection already on"
    client.update_table(TableName=report.name, DeletionProtectionEnabled=True)
    client.get_waiter("table_exists").wait(TableName=report.name, WaiterConfig=WAIT)
    return "deletion protection turned on"


def tag(client: Any, name: str, options: TableOptions, created: bool) -> Tuple[bool, str]:
    """Add the tags the table lacks (others it has are kept), and check they are there: whether they are,
    and what was done (or, when the endpoint cannot tag, ``--tag`` and why)."""
    arn = (table_description(client, name) or {}).get("TableArn")
    try:
        present = tags_of(client, str(arn))
        missing = [(key, value) for key, value in options.tags if present.get(key) != value]
        if missing:
            client.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in missing])
        if [(k, v) for k, v in options.tags if tags_of(client, str(arn)).get(k) != v]:
            return False, f"--tag {format_tags(options.tags)} (the table does not show them)"
    except ClientError as exc:
        return False, f"--tag {format_tags(options.tags)} ({error_code(exc)}: the endpoint cannot tag tables)"
    if created or missing:
        return True, f"tagged {format_tags(options.tags if created else missing)}"
    return True, f"already tagged {format_tags(options.tags)}"


def enable_pitr(client: Any, definition: TableDefinition) -> str:
    """Turn point-in-time recovery on, waiting while a new table's backups become available; ``""``,
    or what the endpoint answered when it did not."""
    for attempt in range(PITR_ATTEMPTS):
        try:
            client.update_continuous_backups(**definition.pitr_request())
            return ""
        except ClientError as exc:
            if error_code(exc) != "ContinuousBackupsUnavailableException" or attempt + 1 == PITR_ATTEMPTS:
                return f"--pitr ({error_code(exc)}: point-in-time recovery not enabled)"
            time.sleep(PITR_RETRY_S)
    return ""


def delete_tables(tables: TablePair) -> Iterator[TableResult]:
    """Delete both tables; refuses (deleting neither) while either has deletion protection."""
    reports = inspect_both(tables)
    protected = [f"{r.role} table {r.name!r}" for r in reports if r.deletion_protection]
    if protected:
        raise CommandError(f"{' and '.join(protected)} {'has' if len(protected) == 1 else 'have'} deletion "
                           "protection on: turn it off first (aws dynamodb update-table --table-name NAME "
                           "--no-deletion-protection-enabled); nothing was deleted")
    for (role, table), report in zip(tables.roles(), reports):
        if report.exists:
            client = table.clients()[0]
            client.delete_table(TableName=report.name)
            client.get_waiter("table_not_exists").wait(TableName=report.name, WaiterConfig=WAIT)
        yield TableResult(role, report.name, "deleted" if report.exists else "not found, nothing to delete")
