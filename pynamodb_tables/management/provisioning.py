"""``create-tables`` and ``delete-tables``: bring both tables to their definitions, or delete them.

Both tables are checked before either is changed: a table that conflicts (other keys, TTL on
another attribute, another encryption key than ``--kms-key``) stops ``create-tables`` with
nothing changed; a table with deletion protection stops ``delete-tables`` with nothing deleted.
"""

import time
from dataclasses import dataclass
from typing import Any, Iterator, List, Sequence, Tuple

from botocore.exceptions import ClientError

from .definition import TableDefinition, TableOptions, definitions
from .errors import CommandError, error_code
from .inspection import TTL_ON, TableReport, inspect_both, tags_of
from .reads import client_of
from .settings import Tables

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


def ensure_tables(tables: Tables, options: TableOptions) -> Iterator[TableResult]:
    """Create what is missing and turn on what was asked, one table after the other.

    Raises :class:`CommandError` before changing anything if either table conflicts.
    """
    reports = inspect_both(tables)
    conflicts = [f"{r.role} table {r.name!r}: {c}" for r in reports
                 for c in [*r.conflicts(), *encryption_conflicts(r, options)]]
    if conflicts:
        raise CommandError("; ".join(conflicts) + "; nothing was changed")
    for (role, table), definition, report in zip(tables.roles(), definitions(tables, options), reports):
        yield TableResult(role, table.table_name, ensure_table(client_of(table), definition, report))


def ensure_table(client: Any, definition: TableDefinition, report: TableReport) -> str:
    """Bring one table (which does not conflict) to its definition; says what was done."""
    options, name, ttl = definition.options, definition.name, definition.ttl_attribute
    if not report.exists:
        client.create_table(**definition.create_table_request())
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
        client.update_time_to_live(**definition.ttl_request())
        done = [f"created ({options.billing_mode}), TTL on {ttl} enabled"]
        if options.kms_key:
            done.append(f"encrypted with KMS key {options.kms_key}")
        if options.deletion_protection:
            done.append("deletion protection on")
        if options.tags:
            done.append(f"tagged {format_tags(options.tags)}")
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
            done.append(tag(client, report, options))
    if options.pitr:
        enable_pitr(client, definition)
        done.append("point-in-time recovery enabled")
    return "; ".join(done)


def format_tags(tags: Sequence[Tuple[str, str]]) -> str:
    return ", ".join(f"{key}={value}" for key, value in tags)


def protect(client: Any, report: TableReport) -> str:
    if report.deletion_protection:
        return "deletion protection already on"
    client.update_table(TableName=report.name, DeletionProtectionEnabled=True)
    client.get_waiter("table_exists").wait(TableName=report.name, WaiterConfig=WAIT)
    return "deletion protection turned on"


def tag(client: Any, report: TableReport, options: TableOptions) -> str:
    """Add the tags an existing table lacks (others it has are kept)."""
    try:
        present = tags_of(client, str(report.arn))
        missing = [(key, value) for key, value in options.tags if present.get(key) != value]
        if missing:
            client.tag_resource(ResourceArn=report.arn, Tags=[{"Key": k, "Value": v} for k, v in missing])
    except ClientError as exc:
        raise CommandError(f"table {report.name!r}: tags not set: {exc}") from exc
    return f"tagged {format_tags(missing)}" if missing else f"already tagged {format_tags(options.tags)}"


def enable_pitr(client: Any, definition: TableDefinition) -> None:
    """Turn point-in-time recovery on, waiting while a new table's backups become available."""
    for attempt in range(PITR_ATTEMPTS):
        try:
            client.update_continuous_backups(**definition.pitr_request())
            return
        except ClientError as exc:
            if error_code(exc) != "ContinuousBackupsUnavailableException" or attempt + 1 == PITR_ATTEMPTS:
                raise CommandError(f"table {definition.name!r}: point-in-time recovery not enabled: {exc}") from exc
            time.sleep(PITR_RETRY_S)


def delete_tables(tables: Tables) -> Iterator[TableResult]:
    """Delete both tables; refuses (deleting neither) while either has deletion protection."""
    reports = inspect_both(tables)
    protected = [f"{r.role} table {r.name!r}" for r in reports if r.deletion_protection]
    if protected:
        raise CommandError(f"{' and '.join(protected)} {'has' if len(protected) == 1 else 'have'} deletion "
                           "protection on: turn it off first (aws dynamodb update-table --table-name NAME "
                           "--no-deletion-protection-enabled); nothing was deleted")
    for (role, table), report in zip(tables.roles(), reports):
        if report.exists:
            client = client_of(table)
            client.delete_table(TableName=report.name)
            client.get_waiter("table_not_exists").wait(TableName=report.name, WaiterConfig=WAIT)
        yield TableResult(role, report.name, "deleted" if report.exists else "not found, nothing to delete")
