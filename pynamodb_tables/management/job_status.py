"""``status``: one job and its regions, as data (the keys ``status --json`` prints).

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
"""

from collections import Counter
from typing import Any, Dict, Optional

from .. import clock
from ..job_table import JobItem, JobTable
from ..reads import read_job as read_stored_job
from ..region_request_table import RegionRequestItem
from ..repair.ending import is_stale
from .errors import CommandError
from .settings import TablePair

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
