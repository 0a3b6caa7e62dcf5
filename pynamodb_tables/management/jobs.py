"""What the reading commands read, as data: one job and its regions (``status``), every job
(``list-jobs``), a job exported whole (``export``). Every read goes through the library's read API
(``pynamodb_tables.reads``).

``status --json``: times are epoch milliseconds or ``null``, durations whole seconds; the keys are
stable:

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

``list-jobs``: every job of the job table, newest first, with its stale regions. The job table is
read with a paginated scan; each listed job's regions with a query that projects only their status
and last update. Both are eventually consistent (half the read units of a strongly consistent read:
an overview may lag a second behind). ``list-jobs --json`` prints a list of objects with
``image_id``, ``job_id``, ``state`` (``running``, ``complete``, ``ended``: as ``status``),
``region_count``, ``region_success``, ``region_error``, ``start_time``, ``end_time`` (epoch
milliseconds or ``null``) and ``stale_regions`` (regions without an outcome not updated for
``--stale-after`` seconds).

``export``: a job and every one of its regions as plain JSON objects, job first, for tickets and jq.
Items are exported as stored (strongly consistent reads), every attribute, each DynamoDB type as its
JSON counterpart: numbers as numbers, lists and maps as arrays and objects, sets as sorted arrays,
binary as base64 text.
"""

import base64
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Dict, Iterator, List, Optional

from .. import clock
from ..job_table import JobItem, JobTable
from ..observing import Capacity
from ..reads import loaded, pages, query_hash_key, request
from ..reads import read_job as read_stored_job
from ..region_request_table import RegionRequestItem
from ..repair.ending import is_stale
from .arguments import TablePair
from .errors import CommandError

DEFAULT_STALE_AFTER_S = 300.0
JOB_STATES = ("running", "complete", "ended")


def whole(value: Optional[float]) -> Optional[int]:
    return None if value is None else int(value)


def read_job(job_table: JobTable, image_id: str) -> JobItem:
    """The job of ``image_id`` (strongly consistent); an unknown image is a :class:`CommandError`."""
    job = read_stored_job(job_table, image_id, "status", listed=True)
    if job is None:
        raise CommandError(f"unknown image {image_id!r}: no job in table {job_table.table_name!r}")
    return job


def job_summary(job: JobItem, now_ms: int) -> Dict[str, Any]:
    """The ``job`` object of ``status --json``."""
    success, error, count = int(job.region_success or 0), int(job.region_error or 0), whole(job.region_count)
    start, end = whole(job.start_time), whole(job.end_time)
    if end is not None:
        state, duration = "ended", whole(job.processing_duration)
    else:
        state = "complete" if count is not None and success + error >= count else "running"
        duration = None if start is None else clock.duration_s(start, now_ms)
    return {"job_id": job.job_id, "state": state, "region_count": count, "region_success": success,
            "region_error": error, "start_time": start, "end_time": end, "duration_seconds": duration}


def region_summary(region: RegionRequestItem, now_ms: int, stale_after_s: float) -> Dict[str, Any]:
    """One of the ``regions`` of ``status --json``."""
    updated = whole(region.last_updated_time)
    return {"region_id": region.region_id, "region_status": region.region_status,
            "region_retry_count": whole(region.region_retry_count), "total_tiles": whole(region.total_tiles),
            "succeeded_tile_count": int(region.succeeded_tile_count or 0),
            "failed_tile_count": int(region.failed_tile_count or 0), "start_time": whole(region.start_time),
            "last_updated_time": updated, "end_time": whole(region.end_time),
            "seconds_since_update": None if updated is None else max(0, now_ms - updated) // 1000,
            "stale": is_stale(region.region_status, whole(region.start_time), updated, now_ms, stale_after_s)}


def snapshot(tables: TablePair, image_id: str, stale_after_s: float) -> Dict[str, Any]:
    """The job and its regions as ``status --json`` prints them."""
    job = read_job(tables.job, image_id)
    regions = tables.region.list_regions(image_id)
    now = clock.now_ms()
    rows = [region_summary(r, now, stale_after_s) for r in sorted(regions, key=lambda r: r.region_id)]
    summary = {"regions_seen": len(rows), "regions_by_status": dict(Counter(str(r["region_status"]) for r in rows)),
               "stale_regions": sum(1 for r in rows if r["stale"])}
    return {"image_id": image_id, "checked_at": now, "stale_after_seconds": stale_after_s,
            "job": job_summary(job, now), "regions": rows, "summary": summary}


JSON_KEYS = ("image_id", "job_id", "state", "region_count", "region_success", "region_error", "start_time",
             "end_time", "stale_regions")

#: Told how far the reading has gone: what is being read, how many done, of how many (if known), the cost.
Progress = Callable[[str, int, Optional[int], Capacity], None]


@dataclass
class JobList:
    """The jobs listed (newest first) and what reading them took."""

    jobs: List[Dict[str, Any]]  # job_summary's keys, with image_id and stale_regions
    jobs_in_table: int
    by_state: Dict[str, int]  # every job in the table, by state
    state: Optional[str]  # the --state asked for
    checked_at: int
    stale_after_seconds: float
    scan: Capacity  # the job table's pages
    queries: Capacity  # the listed jobs' regions

    def as_json(self) -> List[Dict[str, Any]]:
        return [{key: job[key] for key in JSON_KEYS} for job in self.jobs]


def no_progress(what: str, done: int, total: Optional[int], cost: Capacity) -> None:
    pass


def stale_regions(tables: TablePair, image_id: str, now_ms: int, stale_after_s: float, cost: Capacity) -> int:
    """How many of the job's regions are stale (a query projecting status, start and last update)."""
    regions = query_hash_key(tables.region, image_id, cost,
                             attributes=["region_status", "start_time", "last_updated_time"])
    return sum(1 for r in regions if is_stale(r.get("region_status", {}).get("S"),
                                              whole_number(r.get("start_time", {}).get("N")),
                                              whole_number(r.get("last_updated_time", {}).get("N")),
                                              now_ms, stale_after_s))


def whole_number(text: Optional[str]) -> Optional[int]:
    return None if text is None else int(float(text))


def list_jobs(tables: TablePair, state: Optional[str], stale_after_s: float,
              progress: Progress = no_progress) -> JobList:
    """Every job (only those in ``state`` if given), newest first, each with its stale regions."""
    scan, queries = Capacity(), Capacity()
    jobs: List[JobItem] = []
    for page in pages(tables.job, "scan", scan):
        for raw in page.get("Items", []):
            job = loaded(tables.job, raw, "list-jobs")
            if job is not None:
                jobs.append(job)
        progress("jobs", len(jobs), None, scan)
    now = clock.now_ms()
    rows = [dict(job_summary(job, now), image_id=job.image_id) for job in jobs]
    listed = [row for row in rows if state is None or row["state"] == state]
    for done, row in enumerate(listed, start=1):
        row["stale_regions"] = stale_regions(tables, row["image_id"], now, stale_after_s, queries)
        progress("the regions of job", done, len(listed), queries)
    listed.sort(key=lambda row: (row["start_time"] is None, -(row["start_time"] or 0), row["image_id"]))
    return JobList(listed, len(rows), dict(Counter(row["state"] for row in rows)), state, now, stale_after_s,
                   scan, queries)


def plain_value(value: Dict[str, Any]) -> Any:
    """One DynamoDB attribute value (``{"S": "x"}``, ``{"N": "1"}``...) as plain JSON."""
    ((kind, data),) = value.items()
    if kind == "N":
        return number(data)
    if kind in ("S", "BOOL"):
        return data
    if kind == "NULL":
        return None
    if kind == "B":
        return base64.b64encode(data).decode()
    if kind == "L":
        return [plain_value(v) for v in data]
    if kind == "M":
        return plain_item(data)
    if kind == "NS":
        return sorted(number(n) for n in data)
    if kind == "SS":
        return sorted(data)
    return sorted(base64.b64encode(b).decode() for b in data)  # BS


def number(text: str) -> Any:
    exact = Decimal(text)
    return int(exact) if exact == exact.to_integral_value() else float(exact)


def plain_item(item: Dict[str, Any]) -> Dict[str, Any]:
    return {name: plain_value(value) for name, value in sorted(item.items())}


def export_items(tables: TablePair, image_id: str) -> Iterator[Dict[str, Any]]:
    """The job of ``image_id``, then each of its regions in ``region_id`` order (unknown image: an error)."""
    cost = Capacity()
    job = request(tables.job, "get_item", cost, hash_key=image_id, consistent=True).get("Item")
    if not job:
        raise CommandError(f"unknown image {image_id!r}: no job in table {tables.job.table_name!r}")
    yield plain_item(job)
    for region in query_hash_key(tables.region, image_id, cost, consistent=True):
        yield plain_item(region)
