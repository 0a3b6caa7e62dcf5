"""The operators' management script: ``pynamodb-tables COMMAND`` (or ``python -m pynamodb_tables``).

Commands:

- ``create-tables``: create both tables with the contract's keys (idempotent), TTL on ``expire_time``.
- ``describe-tables``: status, keys, billing, TTL, PITR, item count; exit 0 only if both match.
- ``delete-tables --yes``: delete both tables.
- ``status IMAGE_ID``: a job and its regions (``--json``, ``--watch``).
- ``iam-policy``: the least-privilege IAM policy a worker needs on the two tables.
- ``demo``: a simulated image job run by worker processes, on an embedded DynamoDB.

Every command takes ``--endpoint-url``, ``--region``, ``--job-table`` and ``--region-table``
(defaults: ``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_DEFAULT_REGION``, ``JOB_TABLE``,
``REGION_REQUEST_TABLE``). Exit codes: 0 success; 1 failure (an error, a table that does not
match the contract, an unknown image, a demo whose counts are not exact); 2 bad usage;
130 interrupted. Every error is one line on stderr.

``status --json`` prints one object (with ``--watch``, one compact object per line per poll).
Times are epoch milliseconds or ``null``, durations whole seconds; the keys are stable:

- ``image_id``; ``checked_at`` (when read); ``stale_after_seconds`` (the ``--stale-after`` threshold)
- ``job``: ``job_id``, ``state`` (``running``; ``complete``: every region has an outcome but the
  job has not ended; ``ended``), ``region_count``, ``region_success``, ``region_error``,
  ``start_time``, ``end_time``, ``duration_seconds`` (``processing_duration`` once ended, else
  the time since ``start_time``)
- ``regions``: a list in ``region_id`` order of ``region_id``, ``region_status``,
  ``region_retry_count``, ``total_tiles``, ``succeeded_tile_count``, ``failed_tile_count``,
  ``start_time``, ``last_updated_time``, ``end_time``, ``seconds_since_update`` and ``stale``
  (true for a region without an outcome not updated for ``stale_after_seconds``)
- ``summary``: ``regions_seen``, ``regions_by_status`` (status to count), ``stale_regions``

``describe-tables --json`` prints ``{"ok": bool, "tables": [...]}``, one entry per table with
``role`` (``job``, ``region_request``), ``name``, ``exists``, ``status``, ``key_schema`` (list of
``attribute``, ``key_type``, ``type``), ``billing_mode``, ``read_capacity``, ``write_capacity``,
``ttl_status``, ``ttl_attribute``, ``point_in_time_recovery``, ``item_count``, ``problems``
(list of text) and ``matches_contract``.
"""

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import queue
import re
import shutil
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, NoReturn, Optional, Sequence, Tuple

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError
from pynamodb.exceptions import PynamoDBException

from . import __version__, clock
from .attributes import Box
from .base_table import BoundTable
from .errors import (
    GetImageRequestItemException,
    ImageAlreadyEndedError,
    PynamoDBTablesError,
    RegionAlreadyCompleteError,
)
from .job_table import JOB_TABLE_ENV, JobItem, JobTable
from .region_request_table import REGION_REQUEST_TABLE_ENV, RegionRequestItem, RegionRequestTable, tiles_to_process
from .retry import describe_failure
from .status import TERMINAL_VALUES, RequestStatus, TileState
from .transaction import complete_region

PROG = "pynamodb-tables"
ENDPOINT_ENV = "AWS_ENDPOINT_URL_DYNAMODB"
REGION_ENV = "AWS_DEFAULT_REGION"
TTL_ATTRIBUTE = "expire_time"  # the contract's TTL attribute, on both tables
TTL_ON = ("ENABLED", "ENABLING")
ON_DEMAND, PROVISIONED = "PAY_PER_REQUEST", "PROVISIONED"
DEFAULT_STALE_AFTER_S = 300.0
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PITR_ATTEMPTS, PITR_RETRY_S = 20, 3.0  # a new table's continuous backups take a moment to become available
CLEAR_SCREEN = "\033[H\033[2J"

#: What a worker's calls need, per table. Every write is ``UpdateItem`` (also each update in
#: ``complete_region``'s ``TransactWriteItems``, which has no IAM action of its own); reads are
#: ``GetItem``; ``list_regions`` is a ``Query``; ``complete_region`` checks the job with
#: ``ConditionCheckItem`` when a redriven region's outcome leaves the counters as they are.
WORKER_ACTIONS: Dict[str, Tuple[str, ...]] = {
    "job": ("dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
    "region request": ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"),
}

Key = Tuple[str, str, str]  # attribute name, HASH or RANGE, attribute type
Handler = Callable[[argparse.Namespace, "Settings"], int]


class CommandError(PynamoDBTablesError):
    """A failure reported as one line on stderr, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- connection and tables ------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """Endpoint, region and table names, from the options or else the environment."""

    endpoint_url: Optional[str] = None
    region: Optional[str] = None
    job_table: Optional[str] = None
    region_table: Optional[str] = None


def settings_from(args: argparse.Namespace) -> Settings:
    def pick(option: Optional[str], env: str) -> Optional[str]:
        return option or os.environ.get(env) or None

    return Settings(pick(args.endpoint_url, ENDPOINT_ENV), pick(args.region, REGION_ENV),
                    pick(args.job_table, JOB_TABLE_ENV), pick(args.region_table, REGION_REQUEST_TABLE_ENV))


class Tables(NamedTuple):
    job: JobTable
    region: RegionRequestTable

    def roles(self) -> List[Tuple[str, BoundTable[Any]]]:
        return [("job", self.job), ("region request", self.region)]


def open_tables(settings: Settings) -> Tables:
    """Both tables, bound to the settings' names, endpoint and region (nothing is sent yet)."""
    names = {"job": (settings.job_table, "--job-table", JOB_TABLE_ENV),
             "region request": (settings.region_table, "--region-table", REGION_REQUEST_TABLE_ENV)}
    for role, (name, option, env) in names.items():
        if not name:
            raise CommandError(f"no {role} table name: pass {option} or set {env}")
    where = {"host": settings.endpoint_url, "region": settings.region}
    return Tables(JobTable(settings.job_table, **where), RegionRequestTable(settings.region_table, **where))


def client_of(table: BoundTable[Any]) -> Any:
    """The botocore DynamoDB client PynamoDB holds for ``table``."""
    return table.clients()[0]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# --- inspecting tables ------------------------------------------------------------------------

@dataclass
class TableReport:
    """What DynamoDB holds for one table."""

    role: str
    name: str
    expected_keys: List[Key]  # the contract's
    exists: bool = False
    status: Optional[str] = None
    key_schema: List[Key] = field(default_factory=list)
    billing_mode: Optional[str] = None
    read_capacity: Optional[int] = None
    write_capacity: Optional[int] = None
    ttl_status: Optional[str] = None
    ttl_attribute: Optional[str] = None
    point_in_time_recovery: Optional[str] = None
    item_count: Optional[int] = None

    def conflicts(self) -> List[str]:
        """What create-tables must not change: other keys, or TTL on another attribute."""
        found = []
        if self.exists and self.key_schema != self.expected_keys:
            found.append(f"key schema is {format_keys(self.key_schema)}, expected {format_keys(self.expected_keys)}")
        if self.ttl_status in TTL_ON and self.ttl_attribute != TTL_ATTRIBUTE:
            found.append(f"TTL is on {self.ttl_attribute!r}, expected {TTL_ATTRIBUTE!r}")
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
                "item_count": self.item_count, "problems": self.problems(), "matches_contract": not self.problems()}


def contract_keys(table: BoundTable[Any]) -> List[Key]:
    """The key schema the table's model declares (the contract's)."""
    attributes = list(table.model.get_attributes().values())
    return ([(a.attr_name, "HASH", a.attr_type) for a in attributes if a.is_hash_key]
            + [(a.attr_name, "RANGE", a.attr_type) for a in attributes if a.is_range_key])


def stored_keys(description: Dict[str, Any]) -> List[Key]:
    """The key schema of a ``DescribeTable`` answer, hash key first."""
    types = {d["AttributeName"]: d["AttributeType"] for d in description.get("AttributeDefinitions", [])}
    keys = [(k["AttributeName"], k["KeyType"], types.get(k["AttributeName"], "?"))
            for k in description.get("KeySchema", [])]
    return sorted(keys, key=lambda key: key[1] != "HASH")


def format_keys(keys: Sequence[Key]) -> str:
    return ", ".join(f"{name} ({key_type}, {kind})" for name, key_type, kind in keys) or "none"


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
        return "unsupported" if code == "UnknownOperationException" else f"unknown ({code})"
    return str(backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "DISABLED"))


def count_items(client: Any, name: str) -> int:
    """Items in the table, counted by a ``Select=COUNT`` scan (every page)."""
    pages = client.get_paginator("scan").paginate(TableName=name, Select="COUNT")
    return sum(int(page["Count"]) for page in pages)


def inspect(role: str, table: BoundTable[Any], *, details: bool = False, approximate: bool = False) -> TableReport:
    """What DynamoDB holds for ``table``; ``details`` adds PITR and the item count."""
    client, name = client_of(table), table.table_name
    report = TableReport(role, name, contract_keys(table))
    description = table_description(client, name)
    if description is None:
        return report
    throughput = description.get("ProvisionedThroughput", {})
    ttl = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    report.exists = True
    report.status = description.get("TableStatus")
    report.key_schema = stored_keys(description)
    report.billing_mode = description.get("BillingModeSummary", {}).get("BillingMode", PROVISIONED)
    if report.billing_mode == PROVISIONED:
        report.read_capacity = throughput.get("ReadCapacityUnits")
        report.write_capacity = throughput.get("WriteCapacityUnits")
    report.ttl_status, report.ttl_attribute = ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")
    if details:
        report.point_in_time_recovery = pitr_of(client, name)
        report.item_count = description.get("ItemCount") if approximate else count_items(client, name)
    return report


def inspect_both(tables: Tables, **options: bool) -> List[TableReport]:
    return [inspect(role, table, **options) for role, table in tables.roles()]


# --- create-tables, describe-tables, delete-tables ------------------------------------------------

@dataclass(frozen=True)
class Capacity:
    billing_mode: str = ON_DEMAND
    read: Optional[int] = None
    write: Optional[int] = None


def ensure_tables(tables: Tables, capacity: Capacity, pitr: bool = False) -> None:
    """Create what is missing, turn TTL on, optionally PITR; nothing at all if a table conflicts.

    Both tables are checked before either is created or changed. Prints one line per table.
    """
    reports = inspect_both(tables)
    conflicts = [f"{r.role} table {r.name!r}: {c}" for r in reports for c in r.conflicts()]
    if conflicts:
        raise CommandError("; ".join(conflicts) + "; nothing was changed")
    width = max(len(r.name) for r in reports)
    for (role, table), report in zip(tables.roles(), reports):
        print_result(role, table.table_name, width, ensure_table(table, report, capacity, pitr))


def ensure_table(table: BoundTable[Any], report: TableReport, capacity: Capacity, pitr: bool) -> str:
    """Bring one table (which does not conflict) to the contract; says what was done."""
    client = client_of(table)
    if not report.exists:
        table.model.create_table(wait=True, billing_mode=capacity.billing_mode, read_capacity_units=capacity.read,
                                 write_capacity_units=capacity.write)  # also turns TTL on
        done = [f"created ({capacity.billing_mode}), TTL on {TTL_ATTRIBUTE} enabled"]
    else:
        if report.status != "ACTIVE":
            client.get_waiter("table_exists").wait(TableName=report.name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        done = [f"exists ({report.billing_mode}), left as is"]
        if report.ttl_status in TTL_ON:
            done.append(f"TTL on {TTL_ATTRIBUTE} already {str(report.ttl_status).lower()}")
        else:
            table.model.update_ttl(ignore_update_ttl_errors=False)
            done.append(f"TTL on {TTL_ATTRIBUTE} enabled")
    if pitr:
        enable_pitr(client, report.name)
        done.append("point-in-time recovery enabled")
    return "; ".join(done)


def enable_pitr(client: Any, name: str) -> None:
    """Turn point-in-time recovery on, waiting while a new table's backups become available."""
    for attempt in range(PITR_ATTEMPTS):
        try:
            client.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
            return
        except ClientError as exc:
            if error_code(exc) != "ContinuousBackupsUnavailableException" or attempt + 1 == PITR_ATTEMPTS:
                raise CommandError(f"table {name!r}: point-in-time recovery not enabled: {exc}") from exc
            time.sleep(PITR_RETRY_S)


def cmd_create_tables(args: argparse.Namespace, settings: Settings) -> int:
    provisioned = args.billing_mode == PROVISIONED
    given = [args.read_capacity, args.write_capacity]
    if provisioned and None in given:
        raise CommandError("--billing-mode PROVISIONED needs --read-capacity and --write-capacity", EXIT_USAGE)
    if not provisioned and given != [None, None]:
        raise CommandError("--read-capacity and --write-capacity need --billing-mode PROVISIONED", EXIT_USAGE)
    ensure_tables(open_tables(settings), Capacity(args.billing_mode, args.read_capacity, args.write_capacity),
                  args.pitr)
    return EXIT_OK


def cmd_describe_tables(args: argparse.Namespace, settings: Settings) -> int:
    reports = inspect_both(open_tables(settings), details=True, approximate=args.approximate)
    if args.json:
        print(json.dumps({"ok": not any(r.problems() for r in reports), "tables": [r.as_json() for r in reports]},
                         indent=2))
    else:
        print("\n\n".join(render_report(r) for r in reports))
    problems = [f"{r.role} table {r.name!r} {'; '.join(r.problems())}" for r in reports if r.problems()]
    if problems:
        raise CommandError("does not match the contract: " + "; ".join(problems))
    return EXIT_OK


def render_report(report: TableReport) -> str:
    title = f"{report.role} table {report.name}"
    if not report.exists:
        return f"{title}\n  does not exist"
    billing = report.billing_mode or "-"
    if report.billing_mode == PROVISIONED:
        billing += f" (read {report.read_capacity}, write {report.write_capacity})"
    ttl = f"{report.ttl_status} on {report.ttl_attribute}" if report.ttl_attribute else str(report.ttl_status)
    pairs = [("status", report.status), ("key schema", format_keys(report.key_schema)), ("billing mode", billing),
             ("TTL", ttl), ("point-in-time recovery", report.point_in_time_recovery), ("items", report.item_count),
             ("contract", "; ".join(report.problems()) or "matches")]
    return title + "\n" + format_pairs(pairs, indent="  ")


def cmd_delete_tables(args: argparse.Namespace, settings: Settings) -> int:
    tables = open_tables(settings)
    names = " and ".join(repr(table.table_name) for _, table in tables.roles())
    if not args.yes:
        raise CommandError(f"refusing to delete {names} without --yes")
    width = max(len(table.table_name) for _, table in tables.roles())
    for role, table in tables.roles():
        exists = table.model.exists()
        if exists:
            table.model.delete_table(wait=True)
        print_result(role, table.table_name, width, "deleted" if exists else "not found, nothing to delete")
    return EXIT_OK


# --- status ---------------------------------------------------------------------------------------

def _int(value: Optional[float]) -> Optional[int]:
    return None if value is None else int(value)


def read_job(job_table: JobTable, image_id: str) -> JobItem:
    if not image_id.strip():
        raise CommandError("IMAGE_ID must not be empty", EXIT_USAGE)
    job = job_table.read(job_table.key(image_id), operation="status", error=GetImageRequestItemException)
    if job is None:
        raise CommandError(f"unknown image {image_id!r}: no job in table {job_table.table_name!r}")
    return job


def job_summary(job: JobItem, now_ms: int) -> Dict[str, Any]:
    success, error, count = int(job.region_success or 0), int(job.region_error or 0), _int(job.region_count)
    start, end = _int(job.start_time), _int(job.end_time)
    if end is not None:
        state, duration = "ended", _int(job.processing_duration)
    else:
        state = "complete" if count is not None and success + error >= count else "running"
        duration = None if start is None else clock.duration_s(start, now_ms)
    return {"job_id": job.job_id, "state": state, "region_count": count, "region_success": success,
            "region_error": error, "start_time": start, "end_time": end, "duration_seconds": duration}


def region_summary(region: RegionRequestItem, now_ms: int, stale_after_s: float) -> Dict[str, Any]:
    updated = _int(region.last_updated_time)
    age_ms = None if updated is None else max(0, now_ms - updated)
    running = region.region_status not in TERMINAL_VALUES
    return {"region_id": region.region_id, "region_status": region.region_status,
            "region_retry_count": _int(region.region_retry_count), "total_tiles": _int(region.total_tiles),
            "succeeded_tile_count": int(region.succeeded_tile_count or 0),
            "failed_tile_count": int(region.failed_tile_count or 0), "start_time": _int(region.start_time),
            "last_updated_time": updated, "end_time": _int(region.end_time),
            "seconds_since_update": None if age_ms is None else age_ms // 1000,
            "stale": running and age_ms is not None and age_ms >= stale_after_s * 1000}


def snapshot(tables: Tables, image_id: str, stale_after_s: float) -> Dict[str, Any]:
    """The job and its regions as ``status --json`` prints them (keys in the module docstring)."""
    job = read_job(tables.job, image_id)
    regions = tables.region.list_regions(image_id)
    now = clock.now_ms()
    rows = [region_summary(r, now, stale_after_s) for r in sorted(regions, key=lambda r: r.region_id)]
    summary = {"regions_seen": len(rows), "regions_by_status": dict(Counter(str(r["region_status"]) for r in rows)),
               "stale_regions": sum(1 for r in rows if r["stale"])}
    return {"image_id": image_id, "checked_at": now, "stale_after_seconds": stale_after_s,
            "job": job_summary(job, now), "regions": rows, "summary": summary}


def render_status(snap: Dict[str, Any], *, running_only: bool = False) -> str:
    """``snap`` for a terminal: the job, a progress bar, and the regions (only running ones if asked)."""
    job = snap["job"]
    success, error, total = job["region_success"], job["region_error"], job["region_count"]
    duration = format_duration(job["duration_seconds"]) + ("" if job["state"] == "ended" else " so far")
    done = f"{success + error}/{'?' if total is None else total} done: {success} succeeded, {error} with errors"
    pairs = [("image", f"{snap['image_id']}  (job {job['job_id'] or '-'})"), ("state", job["state"]),
             ("regions", f"{progress_bar(success, error, total)}  {done}"),
             ("started", format_ms(job["start_time"])), ("ended", format_ms(job["end_time"])),
             ("duration", duration)]
    return format_pairs(pairs) + "\n\n" + render_regions(snap, running_only)


def render_regions(snap: Dict[str, Any], running_only: bool) -> str:
    regions = snap["regions"]
    shown = [r for r in regions if r["region_status"] not in TERMINAL_VALUES] if running_only else regions
    rows = [[r["region_id"], r["region_status"], r["region_retry_count"], r["succeeded_tile_count"],
             r["failed_tile_count"], r["total_tiles"], format_ms(r["last_updated_time"]),
             format_duration(r["seconds_since_update"]), "stale" if r["stale"] else ""] for r in shown]
    headers = ["REGION", "STATUS", "RETRIES", "TILES OK", "TILES FAILED", "TILES", "LAST UPDATE", "AGE", ""]
    lines = [format_table(headers, rows, right=(2, 3, 4, 5, 7))] if rows else []
    hidden = len(regions) - len(shown)
    if hidden:
        lines.append(f"{hidden} finished region(s) not shown")
    if not regions:
        lines.append("no regions recorded yet")
    stale = snap["summary"]["stale_regions"]
    if stale:
        lines.append(f"{stale} stale region(s): no outcome and no update for {snap['stale_after_seconds']:g}s")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    tables = open_tables(settings)
    while True:
        snap = snapshot(tables, args.image_id, args.stale_after)
        if args.json:
            print(json.dumps(snap, sort_keys=True, indent=None if args.watch else 2), flush=True)
        elif args.watch and sys.stdout.isatty():
            print(CLEAR_SCREEN + render_status(snap, running_only=True), flush=True)
        else:
            print(render_status(snap, running_only=args.watch) + ("\n" if args.watch else ""), flush=True)
        if not args.watch or snap["job"]["state"] == "ended":
            return EXIT_OK
        time.sleep(args.interval)


# --- iam-policy -------------------------------------------------------------------------------------

def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def iam_policy(tables: Tables, region: str, account_id: str) -> Dict[str, Any]:
    """The policy a worker needs: :data:`WORKER_ACTIONS` on each table's ARN, nothing else."""
    statements = []
    for role, table in tables.roles():
        arn = f"arn:{partition_of(region)}:dynamodb:{region}:{account_id}:table/{table.table_name}"
        statements.append({"Sid": role.title().replace(" ", "") + "Table", "Effect": "Allow",
                           "Action": sorted(WORKER_ACTIONS[role]), "Resource": arn})
    return {"Version": "2012-10-17", "Statement": statements}


def cmd_iam_policy(args: argparse.Namespace, settings: Settings) -> int:
    if not re.fullmatch(r"\d{12}|\*", args.account_id):
        raise CommandError(f"--account-id must be 12 digits or '*', got {args.account_id!r}", EXIT_USAGE)
    print(json.dumps(iam_policy(open_tables(settings), settings.region or "*", args.account_id), indent=2))
    return EXIT_OK


# --- demo -----------------------------------------------------------------------------------------

DEMO_TABLES = ("demo-jobs", "demo-regions")
DEMO_TIMEOUT_S = 120.0
CRASH_EXIT_CODE = 3
TILE = 512


class Delivery(NamedTuple):
    """One region message, as a queue would deliver it."""

    region: int
    note: str  # "first delivery", "duplicate", "redelivery"
    crash_after: Optional[int] = None  # the worker crashes after this many tiles


class DemoEvent(NamedTuple):
    """What a worker did with one delivery."""

    delivery: Delivery
    kind: str  # "completed", "duplicate", "crashed", "error"
    detail: str
    processed: int = 0  # tiles processed by this delivery
    counts: Optional[Tuple[int, int, int]] = None  # the job's region_success, region_error, region_count
    ended: str = ""  # "won" when this delivery ended the job, "already ended" when another had


@dataclass(frozen=True)
class Scenario:
    """The simulated image: a row of regions of tiles, with failures, a crash and a duplicate."""

    regions: int = 8
    tiles: int = 6
    partial_region: int = 2  # one tile fails: PARTIAL
    failed_region: int = 5  # every tile fails: FAILED
    crash_region: int = 3  # its worker crashes after ``crash_after`` tiles; the message is redelivered
    crash_after: int = 3
    duplicate_region: int = 6  # its message is delivered twice
    tile_seconds: float = 0.05  # simulated work per tile

    def region_id(self, n: int) -> str:
        return f"region-{n:02d}"

    def tiles_of(self, n: int) -> List[Box]:
        return [[[(n * self.tiles + t) * TILE, 0], [TILE, TILE]] for t in range(self.tiles)]

    def failing_tiles(self, n: int) -> List[Box]:
        tiles = self.tiles_of(n)
        if n == self.failed_region:
            return tiles
        return tiles[-2:-1] if n == self.partial_region else []

    def expected_status(self, n: int) -> RequestStatus:
        failing = len(self.failing_tiles(n))
        if not failing:
            return RequestStatus.SUCCESS
        return RequestStatus.FAILED if failing == self.tiles else RequestStatus.PARTIAL

    def region_item(self, image_id: str, n: int) -> RegionRequestItem:
        return RegionRequestItem(image_id=image_id, region_id=self.region_id(n), total_tiles=self.tiles,
                                 region_bounds=[[n * self.tiles * TILE, 0], [self.tiles * TILE, TILE]],
                                 tile_size=[TILE, TILE], tile_overlap=[0, 0])

    def deliveries(self) -> List[Delivery]:
        """The first messages: one per region, the duplicate twice, the crashing one with its crash."""
        messages = []
        for n in range(self.regions):
            messages.append(Delivery(n, "first delivery", self.crash_after if n == self.crash_region else None))
            if n == self.duplicate_region:
                messages.append(Delivery(n, "duplicate"))
        return messages


def outcome_of(region: RegionRequestItem) -> RequestStatus:
    """SUCCESS without failed tiles, FAILED without succeeded ones, else PARTIAL."""
    if not region.failed_tile_count:
        return RequestStatus.SUCCESS
    return RequestStatus.PARTIAL if region.succeeded_tile_count else RequestStatus.FAILED


def end_if_complete(job_table: JobTable, job: JobItem) -> str:
    if not JobTable.is_image_request_complete(job):
        return ""
    try:
        job_table.end_image_request(job.image_id)
        return "won"
    except ImageAlreadyEndedError:
        return "already ended"


def deliver(tables: Tables, image_id: str, scenario: Scenario, delivery: Delivery) -> DemoEvent:
    """A worker's real calls for one region message (a crash returns early, completing nothing)."""
    n = delivery.region
    region_id = scenario.region_id(n)
    try:
        region = tables.region.start_region_request(scenario.region_item(image_id, n))
    except RegionAlreadyCompleteError:
        return DemoEvent(delivery, "duplicate", "region already complete: nothing to do")
    todo = tiles_to_process(region, scenario.tiles_of(n))  # a redelivery redoes only the missing tiles
    for done, tile in enumerate(todo, start=1):
        time.sleep(scenario.tile_seconds)
        state = TileState.FAILED if tile in scenario.failing_tiles(n) else TileState.SUCCEEDED
        region = tables.region.add_tile(image_id, region_id, tile, state)
        if done == delivery.crash_after:
            return DemoEvent(delivery, "crashed", f"after {done} of {len(todo)} tiles, not completed", done)
    outcome = outcome_of(region)
    job = complete_region(tables.job, tables.region, region, outcome)
    counts = (int(job.region_success or 0), int(job.region_error or 0), int(job.region_count or 0))
    return DemoEvent(delivery, "completed", outcome.value, len(todo), counts, end_if_complete(tables.job, job))


def demo_worker(number: int, settings: Settings, image_id: str, scenario: Scenario, inbox: Any, outbox: Any) -> None:
    """A worker process: handle region messages until a ``None``; a planned crash ends the process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers
    tables = open_tables(settings)
    for delivery in iter(inbox.get, None):
        try:
            event = deliver(tables, image_id, scenario, delivery)
        except Exception as exc:  # reported by the parent, which fails the demo
            event = DemoEvent(delivery, "error", describe_error(exc))
        outbox.put((number, event))
        if event.kind == "crashed":
            outbox.close()
            outbox.join_thread()  # the event reaches the parent before the process dies
            os._exit(CRASH_EXIT_CODE)


class WorkerPool:
    """Spawned worker processes sharing one message queue, as consumers of a real queue would."""

    def __init__(self, settings: Settings, image_id: str, scenario: Scenario) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.inbox: Any = self.context.Queue()
        self.outbox: Any = self.context.Queue()
        self.args = (settings, image_id, scenario, self.inbox, self.outbox)
        self.numbers = itertools.count(1)
        self.processes: Dict[int, Any] = {}

    def spawn(self) -> None:
        number = next(self.numbers)
        process = self.context.Process(target=demo_worker, args=(number, *self.args), daemon=True,
                                       name=f"demo-worker-{number}")
        process.start()
        self.processes[number] = process

    def crashed(self, number: int) -> None:
        """Worker ``number`` reported its crash: reap it and start a replacement."""
        self.processes.pop(number).join(30)
        self.spawn()

    def next_event(self, deadline: float) -> Tuple[int, DemoEvent]:
        while True:
            try:
                number, event = self.outbox.get(timeout=0.2)
                return number, event
            except queue.Empty:
                pass
            dead = [f"worker {n} (exit code {p.exitcode})" for n, p in self.processes.items()
                    if p.exitcode not in (None, CRASH_EXIT_CODE)]
            if dead:
                raise CommandError(f"demo {', '.join(dead)} stopped unexpectedly")
            if time.monotonic() > deadline:
                raise CommandError(f"demo did not finish within {DEMO_TIMEOUT_S:g}s")

    def stop(self, wait: bool) -> None:
        """Stop every worker: after its current message if ``wait``, else at once."""
        for _ in self.processes:
            self.inbox.put(None)
        for process in self.processes.values():
            process.join(30 if wait else 0)
            if process.is_alive():
                process.terminate()


def run_workers(settings: Settings, image_id: str, scenario: Scenario, workers: int) -> List[DemoEvent]:
    """Deliver every message to ``workers`` processes, redelivering a crashed one; print progress."""
    pool = WorkerPool(settings, image_id, scenario)
    messages = scenario.deliveries()
    for delivery in messages:
        pool.inbox.put(delivery)
    events: List[DemoEvent] = []
    counts = (0, 0, scenario.regions)
    deadline = time.monotonic() + DEMO_TIMEOUT_S
    try:
        for _ in range(workers):
            pool.spawn()
        while len(events) < len(messages):
            number, event = pool.next_event(deadline)
            events.append(event)
            counts = event.counts or counts
            print(progress_line(number, event, counts, scenario), flush=True)
            if event.kind == "crashed":
                messages.append(Delivery(event.delivery.region, "redelivery"))
                pool.inbox.put(messages[-1])
                pool.crashed(number)
    finally:
        pool.stop(wait=len(events) == len(messages))
    return events


def progress_line(number: int, event: DemoEvent, counts: Tuple[int, int, int], scenario: Scenario) -> str:
    success, error, total = counts
    detail = event.detail
    if event.kind == "completed":
        detail += f", {event.processed} tile(s) processed"
    if event.ended:
        detail += "; ended the job" if event.ended == "won" else "; job already ended"
    if event.kind == "crashed":
        detail += "; will be redelivered"
    return (f"{progress_bar(success, error, total, width=16)} {success + error}/{total}  worker {number}  "
            f"{scenario.region_id(event.delivery.region)}  {event.delivery.note:<14}  {event.kind:<9}  {detail}")


Check = Tuple[bool, str]  # passed, what was checked


@dataclass
class DemoResult:
    """What the demo left in the tables and what its workers reported, checked against the scenario."""

    scenario: Scenario
    job: JobItem
    regions: Dict[str, RegionRequestItem]
    events: List[DemoEvent]

    def checks(self) -> List[Check]:
        return [self.no_errors(), self.counters(), self.ended_once(), self.outcomes(), self.tiles(),
                self.redrive(), self.duplicate()]

    def region(self, n: int) -> Optional[RegionRequestItem]:
        return self.regions.get(self.scenario.region_id(n))

    def no_errors(self) -> Check:
        errors = [e.detail for e in self.events if e.kind == "error"]
        return not errors, "no worker errors" + (f": {errors[0]}" if errors else "")

    def counters(self) -> Check:
        total = self.scenario.regions
        success = sum(1 for n in range(total) if self.scenario.expected_status(n) is RequestStatus.SUCCESS)
        job = self.job
        exact = (job.region_success, job.region_error, job.region_count) == (success, total - success, total)
        return exact, (f"job counters exact: region_success {_int(job.region_success)} (expected {success}), "
                       f"region_error {_int(job.region_error)} (expected {total - success}) "
                       f"of {_int(job.region_count)}")

    def ended_once(self) -> Check:
        wins = sum(1 for e in self.events if e.ended == "won")
        return wins == 1 and self.job.end_time is not None, f"job ended exactly once ({wins} end_image_request won)"

    def outcomes(self) -> Check:
        wrong = [self.scenario.region_id(n) for n in range(self.scenario.regions)
                 if getattr(self.region(n), "region_status", None) != self.scenario.expected_status(n).value]
        return (len(self.regions) == self.scenario.regions and not wrong,
                f"{len(self.regions)} regions, each with its expected outcome{_except(wrong)}")

    def tiles(self) -> Check:
        wrong = [self.scenario.region_id(n) for n in range(self.scenario.regions) if not self.tiles_exact(n)]
        return not wrong, f"tile counts exact, no tile recorded twice{_except(wrong)}"

    def tiles_exact(self, n: int) -> bool:
        region = self.region(n)
        if region is None:
            return False
        failed, succeeded = region.failed_tiles or [], region.succeeded_tiles or []
        expected_failed = len(self.scenario.failing_tiles(n))
        return (region.failed_tile_count == len(failed) == expected_failed
                and region.succeeded_tile_count == len(succeeded) == self.scenario.tiles - expected_failed
                and all(len({json.dumps(t) for t in tiles}) == len(tiles) for tiles in (failed, succeeded)))

    def redrive(self) -> Check:
        retries = _int(getattr(self.region(self.scenario.crash_region), "region_retry_count", None))
        redone = [e.processed for e in self.events if e.delivery.note == "redelivery" and e.kind == "completed"]
        missing = self.scenario.tiles - self.scenario.crash_after
        return (retries == 1 and redone == [missing],
                f"crashed region redriven: retry count {retries}, redelivery processed "
                f"{', '.join(map(str, redone)) or 'no'} tile(s): the {missing} missing of {self.scenario.tiles}")

    def duplicate(self) -> Check:
        n = self.scenario.duplicate_region
        handled = sum(1 for e in self.events if e.delivery.region == n)
        return handled == 2, f"{self.scenario.region_id(n)} delivered twice ({handled} handled), counted once"


def _except(region_ids: List[str]) -> str:
    return f", except {', '.join(region_ids)}" if region_ids else ""


@contextlib.contextmanager
def demo_endpoint(settings: Settings) -> Iterator[Settings]:
    """``settings`` as they are when an endpoint is configured, else pointing at an embedded moto server."""
    if settings.endpoint_url:
        yield settings
        return
    from .testing import MotoServer

    try:
        server = MotoServer()
    except RuntimeError as exc:
        raise CommandError(f"demo without --endpoint-url: {exc}") from None
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")  # the embedded server's; inherited
    os.environ.pop("AWS_SESSION_TOKEN", None)  # by the workers, and never real credentials
    with server:
        print(f"embedded DynamoDB (moto server) at {server.endpoint}")
        yield replace(settings, endpoint_url=server.endpoint, region=settings.region or "us-east-1")


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    settings = replace(settings, job_table=settings.job_table or DEMO_TABLES[0],
                       region_table=settings.region_table or DEMO_TABLES[1])
    scenario = Scenario()
    with demo_endpoint(settings) as settings:
        tables = open_tables(settings)
        ensure_tables(tables, Capacity())
        image_id = args.image_id or f"demo-{uuid.uuid4().hex[:8]}"
        tables.job.start_image_request(JobItem(image_id=image_id, job_id=f"job-{image_id}",
                                               image_url="s3://demo-bucket/image.tif", region_count=scenario.regions,
                                               width=scenario.regions * scenario.tiles * TILE, height=TILE))
        print(f"image {image_id}: {scenario.regions} regions of {scenario.tiles} tiles, {args.workers} worker "
              f"processes; {scenario.region_id(scenario.partial_region)} has a failing tile, "
              f"{scenario.region_id(scenario.failed_region)} fails, {scenario.region_id(scenario.crash_region)}'s "
              f"worker crashes, {scenario.region_id(scenario.duplicate_region)} is delivered twice\n", flush=True)
        events = run_workers(settings, image_id, scenario, args.workers)
        print("\n" + render_status(snapshot(tables, image_id, DEFAULT_STALE_AFTER_S)))
        regions = {r.region_id: r for r in tables.region.list_regions(image_id)}
        checks = DemoResult(scenario, tables.job.get_image_request(image_id), regions, events).checks()
    print("\nchecks\n" + "\n".join(f"  {'ok  ' if ok else 'FAIL'}  {text}" for ok, text in checks))
    failed = [text for ok, text in checks if not ok]
    if failed:
        raise CommandError(f"demo counts are not exact: {'; '.join(failed)}")
    return EXIT_OK


# --- output -----------------------------------------------------------------------------------------

def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """Rows under headers in aligned columns; columns in ``right`` are right-aligned."""
    cells = [list(headers)] + [["-" if value is None else str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in cells)


def print_result(role: str, name: str, width: int, result: str) -> None:
    """One line of what a command did to a table, aligned with the other table's."""
    print(f"{role + ' table':<21} {name:<{width}}  {result}", flush=True)


def format_pairs(pairs: Sequence[Tuple[str, Any]], indent: str = "") -> str:
    width = max(len(label) for label, _ in pairs)
    return "\n".join(f"{indent}{label:<{width}}  {'-' if value is None else value}" for label, value in pairs)


def format_ms(ms: Optional[int]) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def format_duration(seconds: Optional[int]) -> str:
    if seconds is None:
        return "-"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    if days:
        return f"{days}d {h:02d}h"
    return f"{hours}h {m:02d}m" if hours else f"{minutes}m {s:02d}s" if minutes else f"{s}s"


def progress_bar(success: int, error: int, total: Optional[int], width: Optional[int] = None) -> str:
    """``[###xx....]``: ``#`` regions succeeded, ``x`` with errors, ``.`` still to come."""
    if width is None:
        width = max(10, min(50, shutil.get_terminal_size().columns - 45))
    if not total:
        return "[" + "?" * width + "]"
    ok = min(width, round(width * success / total))
    bad = min(width - ok, round(width * error / total))
    return "[" + "#" * ok + "x" * bad + "." * (width - ok - bad) + "]"


def one_line(text: str) -> str:
    return " ".join(text.split())


def describe_error(exc: BaseException) -> str:
    """One line for any failure: the package's, PynamoDB's, botocore's or another."""
    if isinstance(exc, (PynamoDBTablesError, CommandError)):
        text = str(exc)
    elif isinstance(exc, PynamoDBException):
        text = describe_failure(exc)
    elif isinstance(exc, NoRegionError):
        text = f"{exc} (pass --region or set {REGION_ENV})"
    elif isinstance(exc, (BotoCoreError, ClientError)):
        text = str(exc)
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    return one_line(text)


# --- command line -------------------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def common_options() -> Parser:
    common = Parser(add_help=False)
    group = common.add_argument_group("connection and tables")
    group.add_argument("--endpoint-url", metavar="URL",
                       help=f"DynamoDB endpoint, e.g. DynamoDB Local (default: ${ENDPOINT_ENV}, else AWS's)")
    group.add_argument("--region", help=f"AWS region (default: ${REGION_ENV})")
    group.add_argument("--job-table", metavar="NAME", help=f"job table name (default: ${JOB_TABLE_ENV})")
    group.add_argument("--region-table", metavar="NAME",
                       help=f"region request table name (default: ${REGION_REQUEST_TABLE_ENV})")
    return common


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Manage and inspect the pynamodb_tables job and region request tables.",
                    epilog="Exit codes: 0 success, 1 failure, 2 bad usage, 130 interrupted. "
                           "Run 'pynamodb-tables COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options()

    def command(name: str, handler: Handler, summary: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=summary, description=description)
        sub.set_defaults(handler=handler)
        return sub

    create = command("create-tables", cmd_create_tables, "create both tables (idempotent)",
                     "Create the job table (hash image_id S) and region request table (hash image_id S, range "
                     f"region_id S) with TTL on {TTL_ATTRIBUTE}, and wait until they are ACTIVE. Existing tables with "
                     "the right keys are left as they are (TTL is turned on if it is off); if either table exists "
                     "with other keys, nothing is changed and the exit code is 1.")
    create.add_argument("--billing-mode", type=str.upper, choices=[ON_DEMAND, PROVISIONED], default=ON_DEMAND,
                        help="billing mode of tables created (default: %(default)s, on demand)")
    create.add_argument("--read-capacity", type=positive_int, metavar="N", help="read capacity units (PROVISIONED)")
    create.add_argument("--write-capacity", type=positive_int, metavar="N", help="write capacity units (PROVISIONED)")
    create.add_argument("--pitr", action="store_true", help="also turn point-in-time recovery on")

    describe = command("describe-tables", cmd_describe_tables, "show both tables; exit 0 only if both match",
                        "Show each table's status, key schema, billing mode, TTL, point-in-time recovery and item "
                        "count. Exit code 0 only when both tables exist and match the contract.")
    describe.add_argument("--json", action="store_true", help="print JSON (keys in the module docstring)")
    describe.add_argument("--approximate", action="store_true",
                           help="item counts from DescribeTable (refreshed about every six hours) instead of a scan")

    delete = command("delete-tables", cmd_delete_tables, "delete both tables (needs --yes)",
                     "Delete both tables and every item in them. Refuses without --yes.")
    delete.add_argument("--yes", action="store_true", help="really delete both tables")

    status = command("status", cmd_status, "show a job and its regions",
                     "Show a job (region counts, start, end, duration) and each region (status, retries, tiles, "
                     "last update; 'stale' when a region without an outcome has not been updated for a while).")
    status.add_argument("image_id", metavar="IMAGE_ID")
    status.add_argument("--json", action="store_true", help="print JSON for scripts (keys in the module docstring)")
    status.add_argument("--watch", action="store_true",
                        help="redraw (only regions without an outcome) until the job ends; with --json, one line "
                             "per poll")
    status.add_argument("--interval", type=non_negative, default=2.0, metavar="SECONDS",
                        help="seconds between polls with --watch (default: %(default)g)")
    status.add_argument("--stale-after", type=non_negative, default=DEFAULT_STALE_AFTER_S, metavar="SECONDS",
                        help="a running region not updated for this long is stale (default: %(default)g)")

    policy = command("iam-policy", cmd_iam_policy, "print the IAM policy a worker needs",
                     "Print the least-privilege IAM policy (JSON) a worker needs on the two tables: GetItem, "
                     "UpdateItem and ConditionCheckItem on the job table; GetItem, UpdateItem and Query on the "
                     "region request table. The ARNs use --region (default: $AWS_DEFAULT_REGION, else '*') and "
                     "--account-id.")
    policy.add_argument("--account-id", default="*", metavar="ID",
                        help="AWS account id of the tables (default: '*', any account)")

    demo = command("demo", cmd_demo, "run a simulated image job with worker processes",
                   "Run a simulated image job with worker processes making the real library calls (tile failures, "
                   "a crashed and redriven region, a duplicate delivery), then check the counts are exact. Without "
                   "an endpoint it starts an embedded DynamoDB (moto, pip install 'pynamodb_tables[demo]'). Tables "
                   f"default to {DEMO_TABLES[0]} and {DEMO_TABLES[1]} and are created if missing.")
    demo.add_argument("--workers", type=positive_int, default=3, metavar="N",
                      help="worker processes (default: %(default)s)")
    demo.add_argument("--image-id", metavar="ID", help="the simulated image's id (default: demo-<random>)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``pynamodb-tables`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, settings_from(args)))
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except CommandError as exc:
        return fail(str(exc), exc.exit_code)
    except Exception as exc:
        return fail(describe_error(exc))


def fail(message: str, exit_code: int = EXIT_FAILURE) -> int:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return exit_code
