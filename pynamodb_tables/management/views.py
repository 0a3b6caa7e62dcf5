"""What the commands show, as views: blocks of lines, label-value pairs and tables, with style names;
the repair commands' results as views and as JSON.

A view is data; :func:`plain` turns it into text (any output), :mod:`.terminal` into colour (a
terminal with rich). Style names: ``title``, ``ok``, ``warn``, ``error``, ``stale``, ``muted``.

The repairs' ``--json`` keys are the result types' fields: ``reconcile`` prints a list of drifts
(``image_id``, ``region_id`` (``null`` for the job), ``attribute``, ``stored``, ``recounted``,
``fixed``); ``fail-stale`` a list of stale regions (``image_id``, ``region_id``,
``region_status``, ``last_activity_time``, ``seconds_since_activity``, ``result``: ``would-fail``,
``failed`` or ``changed-since-read``); ``end-job`` an object (``image_id``, ``end_time``,
``processing_duration``, ``forced``, ``running``, ``never_recorded``); ``map`` an object
(``image_id``, ``out``, ``width``, ``height``, ``regions``, ``regions_by_status``,
``regions_not_drawn``, ``succeeded_tiles``, ``failed_tiles``).
"""

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple, Union

from ..items import is_outcome
from ..listeners import OperationFigures
from ..observing import RETRY_CAUSES, Capacity
from ..repair import EndedJob, Reconciliation, StaleSweep
from ..repair.ending import CHANGED, FAILED
from .jobs import JOB_STATES, JobList
from .provisioning import TableReport, TableResult, format_keys
from .region_map import RegionMap


@dataclass(frozen=True)
class Line:
    text: str
    style: str = ""


@dataclass(frozen=True)
class Pairs:
    """Labels and values in two columns; a row is ``(label, value)`` or ``(label, value, style)``."""

    rows: Sequence[Tuple[str, ...]]
    indent: str = ""


@dataclass(frozen=True)
class Grid:
    """A table: headers, rows of text, right-aligned columns, and a style per row.

    Fitted to a terminal (:func:`.terminal.fit`), the ``ids`` columns are shortened in the middle and the
    ``redundant`` and ``optional`` ones (what another column also tells) left out before any other
    column is touched.
    """

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    right: FrozenSet[int] = frozenset()
    styles: Sequence[str] = field(default_factory=list)
    ids: FrozenSet[int] = frozenset()
    redundant: FrozenSet[int] = frozenset()
    optional: FrozenSet[int] = frozenset()


Block = Union[Line, Pairs, Grid]
View = List[Block]

STATE_STYLES = {"running": "", "complete": "warn", "ended": "ok"}
STATUS_STYLES = {"SUCCESS": "ok", "PARTIAL": "warn", "FAILED": "error"}


# --- plain text ---------------------------------------------------------------------------------

def plain_text(view: View) -> str:
    """The view as plain text: one block after the other."""
    return "\n".join(plain_block(block) for block in view)


def plain_block(block: Block) -> str:
    if isinstance(block, Line):
        return block.text
    if isinstance(block, Pairs):
        width = max(len(row[0]) for row in block.rows)
        return "\n".join(f"{block.indent}{row[0]:<{width}}  {row[1]}" for row in block.rows)
    cells = [list(block.headers)] + [list(row) for row in block.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(block.headers))]
    return "\n".join("  ".join(cell.rjust(w) if i in block.right else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in cells)


# --- values -------------------------------------------------------------------------------------

def text(value: Any) -> str:
    return "-" if value is None else str(value)


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


def progress_bar(success: int, error: int, total: Optional[int], width: int = 50) -> str:
    """``[###xx....]``: ``#`` regions succeeded, ``x`` with errors, ``.`` still to come."""
    if not total:
        return "[" + "?" * width + "]"
    ok = min(width, round(width * success / total))
    bad = min(width - ok, round(width * error / total))
    return "[" + "#" * ok + "x" * bad + "." * (width - ok - bad) + "]"


# --- views --------------------------------------------------------------------------------------

def results_view(results: Sequence[TableResult], width: int) -> View:
    """One line per table: what a command did to it, aligned with the other table's."""
    return [Line(f"{r.role + ' table':<21} {r.name:<{width}}  {r.done}") for r in results]


def report_view(reports: Sequence[TableReport]) -> View:
    """``describe-tables``: each table's settings and how it matches the contract."""
    view: View = []
    for report in reports:
        view += [Line("")] if view else []
        view.append(Line(f"{report.role} table {report.name}", "title"))
        if not report.exists:
            view.append(Line("  does not exist", "error"))
            continue
        billing = text(report.billing_mode)
        if report.read_capacity is not None:
            billing += f" (read {report.read_capacity}, write {report.write_capacity})"
        ttl = f"{report.ttl_status} on {report.ttl_attribute}" if report.ttl_attribute else str(report.ttl_status)
        tags = report.tags_note if report.tags is None else (
            ", ".join(f"{k}={v}" for k, v in sorted(report.tags.items())) or "none")
        encryption = f"KMS key {report.kms_key_arn}" if report.kms_key_arn else "DynamoDB's own key (DEFAULT)"
        problems = "; ".join(report.problems())
        view.append(Pairs([("status", text(report.status)), ("key schema", format_keys(report.key_schema)),
                           ("billing mode", billing), ("TTL", ttl),
                           ("point-in-time recovery", text(report.point_in_time_recovery)),
                           ("deletion protection", "on" if report.deletion_protection else "off"),
                           ("encryption", encryption), ("tags", text(tags)), ("items", text(report.item_count)),
                           ("contract", problems or "matches", "error" if problems else "ok")], indent="  "))
    return view


def status_view(snap: Dict[str, Any], *, running_only: bool = False, width: Optional[int] = None) -> View:
    """``status``: the job, a progress bar (fitted to ``width`` columns), and the regions (only those
    still running if asked)."""
    job = snap["job"]
    success, error, total = job["region_success"], job["region_error"], job["region_count"]
    duration = format_duration(job["duration_seconds"]) + ("" if job["state"] == "ended" else " so far")
    done = f"{success + error}/{'?' if total is None else total} done: {success} succeeded, {error} with errors"
    bar = 50 if width is None else max(10, min(50, width - len("regions") - len(done) - 8))
    pairs = [("image", snap["image_id"]), ("job", text(job["job_id"])),
             ("state", job["state"], STATE_STYLES[job["state"]]),
             ("regions", f"{progress_bar(success, error, total, bar)}  {done}", "error" if error else ""),
             ("started", format_ms(job["start_time"])), ("ended", format_ms(job["end_time"])),
             ("duration", duration)]
    return [Pairs(pairs), Line(""), *regions_view(snap, running_only)]


def regions_view(snap: Dict[str, Any], running_only: bool) -> View:
    regions = snap["regions"]
    shown = [r for r in regions if not is_outcome(r["region_status"])] if running_only else regions
    rows = [[r["region_id"], r["region_status"], r["region_retry_count"], r["total_tiles"], r["succeeded_tile_count"],
             r["failed_tile_count"], format_ms(r["last_updated_time"]), format_duration(r["seconds_since_update"]),
             "stale" if r["stale"] else ""] for r in shown]
    headers = ["REGION", "STATUS", "RETRIES", "TILES", "OK", "FAILED", "LAST UPDATE", "AGE", ""]
    styles = ["stale" if r["stale"] else STATUS_STYLES.get(str(r["region_status"]), "") for r in shown]
    view: View = []
    if rows:
        view.append(Grid(headers, [[text(cell) for cell in row] for row in rows], frozenset({2, 3, 4, 5, 7}),
                         styles, ids=frozenset({0}), optional=frozenset({6})))
    hidden = len(regions) - len(shown)
    if hidden:
        view.append(Line(f"{hidden} finished region(s) not shown", "muted"))
    if not regions:
        view.append(Line("no regions recorded yet", "muted"))
    stale = snap["summary"]["stale_regions"]
    if stale:
        view.append(Line(f"{stale} stale region(s): no outcome and no update for {snap['stale_after_seconds']:g}s",
                         "stale"))
    return view


def job_list_view(jobs: JobList, table_name: str) -> View:
    """``list-jobs``: a row per job, newest first, then the counts and the read units spent."""
    rows, styles = [], []
    for job in jobs.jobs:
        total = "?" if job["region_count"] is None else job["region_count"]
        rows.append([job["image_id"], text(job["job_id"]), job["state"],
                     f"{job['region_success'] + job['region_error']}/{total}", str(job["region_success"]),
                     str(job["region_error"]), str(job["stale_regions"]), format_ms(job["start_time"]),
                     format_duration(job["duration_seconds"])])
        styles.append("stale" if job["stale_regions"] else STATE_STYLES[job["state"]])
    by_state = ", ".join(f"{jobs.by_state.get(state, 0)} {state}" for state in JOB_STATES)
    listed = f"{len(jobs.jobs)} listed (--state {jobs.state})" if jobs.state else f"{len(jobs.jobs)} listed"
    view: View = []
    if rows:
        headers = ["IMAGE", "JOB", "STATE", "DONE", "OK", "ERRORS", "STALE", "STARTED", "DURATION"]
        # The model runner's image ids start with their job id: its column then tells nothing more.
        implied = all(job["job_id"] and job["image_id"].startswith(f"{job['job_id']}:") for job in jobs.jobs)
        view.append(Grid(headers, rows, frozenset({3, 4, 5, 6, 8}), styles, ids=frozenset({0, 1}),
                         redundant=frozenset({1} if implied else ()), optional=frozenset({7})))
    view.append(Line(f"{jobs.jobs_in_table} job(s) in table {table_name}: {by_state}; {listed}"))
    stale = [job for job in jobs.jobs if job["stale_regions"]]
    if stale:
        view.append(Line(f"{len(stale)} job(s) with stale regions: no outcome and no update for "
                         f"{jobs.stale_after_seconds:g}s", "stale"))
    view.append(Line(f"read {jobs.scan.read_units + jobs.queries.read_units:g} read units: {jobs.scan.reads} page(s) "
                     f"of the job table ({jobs.scan.read_units:g}), {jobs.queries.reads} region queries "
                     f"({jobs.queries.read_units:g})", "muted"))
    return view


def reading_progress(what: str, done: int, total: Optional[int], cost: Capacity) -> str:
    """What a long read has done so far, for a terminal's status line."""
    return f"reading {what} {done}{'' if total is None else f' of {total}'}: {cost.read_units:g} read units"


def operations_view(figures: Dict[str, OperationFigures], units_note: Optional[str] = None) -> View:
    """Per operation, from the package's events: calls, errors, latency, requests sent, resends by cause, units
    (``units_note``: what they are, where they are not DynamoDB's own report)."""
    headers = ["operation", "calls", "errors", "p50 ms", "p99 ms", "sends",
               *(cause.replace("_", " ") for cause in RETRY_CAUSES), "read units", "write units"]
    rows = [[operation, str(each.calls), str(each.errors), f"{each.percentile_ms(0.5):.1f}",
             f"{each.percentile_ms(0.99):.1f}", str(each.sends), *(str(each.retries.get(c, 0)) for c in RETRY_CAUSES),
             f"{each.read_units:g}", f"{each.write_units:g}"] for operation, each in sorted(figures.items())]
    view: View = [Line("operations, from the package's events (resends by cause)", "title"),
                  Grid(headers, rows, right=frozenset(range(1, len(headers))))]
    return [*view, Line(f"units: {units_note}", "muted")] if units_note else view


def units_line(capacity: Capacity) -> Line:
    return Line(f"spent {capacity.read_units:g} read units ({capacity.reads} reads) and {capacity.write_units:g} "
                f"write units ({capacity.writes} writes)", "muted")


def reconcile_json(result: Reconciliation) -> List[Dict[str, Any]]:
    return [asdict(drift) for drift in result.drifts]


def reconcile_view(result: Reconciliation) -> View:
    view: View = []
    if result.drifts:
        rows = [[d.image_id, text(d.region_id) if d.region_id is not None else "(job)", d.attribute, text(d.stored),
                 str(d.recounted), "yes" if d.fixed else "no"] for d in result.drifts]
        view.append(Grid(["IMAGE", "REGION", "ATTRIBUTE", "STORED", "RECOUNTED", "FIXED"], rows, frozenset({3, 4}),
                         ["ok" if d.fixed else "warn" for d in result.drifts]))
    fixed = sum(d.fixed for d in result.drifts)
    if result.dry_run:
        summary = f"{len(result.drifts)} drift(s) found; dry run: nothing written"
    else:
        summary = f"{len(result.drifts)} drift(s) found, {fixed} fixed; the tables agree with the recount"
    view.append(Line(f"{result.jobs_checked} job(s) recounted: {summary}", "warn" if result.dry_run and
                     result.drifts else "ok"))
    view.append(units_line(result.capacity))
    return view


def stale_json(sweep: StaleSweep) -> List[Dict[str, Any]]:
    return [asdict(region) for region in sweep.regions]


def stale_view(sweep: StaleSweep) -> View:
    view: View = []
    if sweep.regions:
        rows = [[r.image_id, r.region_id, r.region_status, format_ms(r.last_activity_time),
                 format_duration(r.seconds_since_activity), r.result] for r in sweep.regions]
        styles = ["error" if r.result == FAILED else "muted" if r.result == CHANGED else "warn" for r in sweep.regions]
        view.append(Grid(["IMAGE", "REGION", "STATUS", "LAST ACTIVITY", "IDLE", "RESULT"], rows, frozenset({4}),
                         styles))
    found = f"{len(sweep.regions)} stale region(s) (no outcome, no write for {sweep.older_than_seconds:g}s)"
    if sweep.applied:
        failed = sum(r.result == FAILED for r in sweep.regions)
        changed = sum(r.result == CHANGED for r in sweep.regions)
        summary = f"{found}: {failed} completed FAILED, {changed} written since read (left alone)"
    else:
        summary = f"{found}: nothing written" + ("; --yes completes them FAILED" if sweep.regions else "")
    view += [Line(f"{sweep.jobs_checked} job(s) checked: {summary}"), units_line(sweep.capacity)]
    return view


def ended_json(ended: EndedJob) -> Dict[str, Any]:
    return {f.name: getattr(ended, f.name) for f in fields(ended) if f.name != "capacity"}


def ended_view(ended: EndedJob) -> View:
    duration = format_duration(ended.processing_duration)
    view: View = [Line(f"ended image {ended.image_id} at {format_ms(ended.end_time)} (duration {duration})", "ok")]
    if ended.forced:
        still = f"{len(ended.running)} region(s) without an outcome ({', '.join(ended.running) or '-'})"
        view.append(Line(f"forced: {still}, {ended.never_recorded} never recorded", "warn"))
    view.append(units_line(ended.capacity))
    return view


def map_json(picture: RegionMap, out: str) -> Dict[str, Any]:
    values = {f.name: getattr(picture, f.name) for f in fields(picture) if f.name != "svg"}
    return {**values, "out": out}


def map_view(picture: RegionMap, out: str) -> View:
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(picture.regions_by_status.items()))
    return [Line(f"wrote {out}: image {picture.image_id}, {picture.width} x {picture.height}, "
                 f"{picture.regions} region(s) ({statuses or 'none'}), {picture.failed_tiles} failed tile(s)")]
