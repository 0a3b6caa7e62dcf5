"""``list-jobs``: every job of the job table, newest first, with its stale regions, as data.

The job table is read with a paginated scan; each listed job's regions with a query that
projects only their status and last update. Both are eventually consistent (half the read
units of a strongly consistent read: an overview may lag a second behind). ``list-jobs
--json`` prints a list of objects with ``image_id``, ``job_id``, ``state`` (``running``,
``complete``, ``ended``: as ``status``), ``region_count``, ``region_success``,
``region_error``, ``start_time``, ``end_time`` (epoch milliseconds or ``null``) and
``stale_regions`` (regions without an outcome not updated for ``--stale-after`` seconds).
"""

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from .. import clock
from ..job_table import JobItem
from ..observing import Capacity
from ..reads import loaded, pages, query_hash_key
from ..repair.ending import is_stale
from .job_status import job_summary
from .settings import TablePair

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
