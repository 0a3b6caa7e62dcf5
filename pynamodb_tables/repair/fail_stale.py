"""``fail-stale``: complete ``FAILED`` the regions that have no outcome and that nobody has written for a while.

Each such region is completed as ``complete_region`` completes one (``completion.finish``):
its outcome and the job's counter in one transaction, the job counting the region once by its
latest outcome (a region restarted after an error outcome is already counted in
``region_error``). The transaction holds only while the region is still as it was read (same
status, start, end, last update and tiles): a region written since, by a worker that was only
slow, is left alone. Afterwards a worker that completes the region is refused and counts
nothing; a redelivered message restarts it as any ``FAILED`` region (counted as a retry).
"""

from dataclasses import dataclass, field
from typing import Iterable, List, Optional

from .. import clock, validation
from ..completion import finish
from ..errors import CompleteRegionException, InvalidRequestError
from ..items import RegionRequestItem, RequestStatus
from ..job_table import JobTable
from ..operations import ConditionNotMet, failing_as
from ..region_request_table import RegionRequestTable
from ..region_states import is_running_status
from ..store import store_of
from .capacity import Capacity, metered
from .job_scan import jobs_to_repair, read_job
from .staleness import is_stale, last_activity

OPERATION = "fail_stale"
#: What became of a stale region: listed only (no ``apply``), completed ``FAILED``, or left alone
#: because it was written after it was read.
WOULD_FAIL, FAILED, CHANGED = "would-fail", "failed", "changed-since-read"


@dataclass(frozen=True)
class StaleRegion:
    """A region found stale: its state as read and what was done with it (``result``)."""

    image_id: str
    region_id: str
    region_status: str
    last_activity_time: int  # epoch milliseconds: the later of last_updated_time and start_time
    seconds_since_activity: int
    result: str


@dataclass
class StaleSweep:
    """The stale regions found (and failed), over how many jobs, and what it spent."""

    regions: List[StaleRegion] = field(default_factory=list)
    jobs_checked: int = 0
    older_than_seconds: float = 0.0
    applied: bool = False
    capacity: Capacity = field(default_factory=Capacity)


def can_fail(region: RegionRequestItem, now_ms: int, older_than_s: float) -> bool:
    """A stale region with a running status and start time: one a worker started and stopped writing."""
    return (is_running_status(region.region_status) and region.start_time is not None
            and is_stale(region.region_status, region.start_time, region.last_updated_time, now_ms, older_than_s))


def fail_region(job_table: JobTable, region_table: RegionRequestTable, region: RegionRequestItem) -> str:
    """Complete ``region`` ``FAILED`` as read (``FAILED``), or leave it alone if it changed since (``CHANGED``)."""
    key = store_of(region_table).key(str(region.image_id), str(region.region_id))
    try:
        with failing_as(CompleteRegionException, OPERATION, region_table.table_name):
            finish(region_table, job_table, key, RequestStatus.FAILED, region=region, as_read=True)
    except ConditionNotMet:
        return CHANGED
    return FAILED


def fail_stale(job_table: JobTable, region_table: RegionRequestTable, image_ids: Optional[Iterable[str]],
               older_than_s: float, *, apply: bool = False) -> StaleSweep:
    """Find the regions of ``image_ids`` (``None``: every job) without an outcome and without a write for
    ``older_than_s`` seconds; with ``apply``, complete each ``FAILED`` (else only list them).

    An unknown image given by id raises the package's error; ``older_than_s`` must be a number >= 0.
    """
    try:
        older_than_s = validation.seconds(older_than_s, "older_than_s")
    except InvalidRequestError as exc:
        raise InvalidRequestError(str(exc), operation=OPERATION) from None
    sweep = StaleSweep(older_than_seconds=older_than_s, applied=apply)
    with metered(job_table, region_table) as capacity:
        for image_id in jobs_to_repair(job_table, image_ids):
            if read_job(job_table, image_id, OPERATION, listed=image_ids is None) is None:
                continue
            sweep.jobs_checked += 1
            now = clock.now_ms()
            for region in sorted(region_table.list_regions(image_id), key=lambda r: str(r.region_id)):
                if not can_fail(region, now, older_than_s):
                    continue
                last = int(last_activity(region.start_time, region.last_updated_time) or 0)
                result = fail_region(job_table, region_table, region) if apply else WOULD_FAIL
                sweep.regions.append(StaleRegion(image_id, str(region.region_id), str(region.region_status), last,
                                                 max(0, now - last) // 1000, result))
    sweep.capacity = capacity
    return sweep
