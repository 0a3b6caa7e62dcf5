"""Ending what a crashed fleet leaves running: regions nobody writes any more, and jobs whose regions
all have an outcome.

When a region without an outcome counts as stale: nobody has written it for a while. Its last
activity is the later of its ``last_updated_time`` and its ``start_time``: this package sets both on
every start, but the model runner's own ``start_region_request`` sets only ``start_time`` (and its
``add_tile`` neither), so a region it started and then abandoned has no ``last_updated_time``, or one
left from an earlier attempt. ``status``, ``list-jobs`` and ``fail-stale`` use this one definition
(:func:`is_stale`).

``fail-stale`` (:func:`fail_stale`): complete ``FAILED`` the stale regions. Each is completed as
``complete_region`` completes one (``completion.finish``): its outcome and the job's counter in one
transaction, the job counting the region once by its latest outcome (a region restarted after an
error outcome is already counted in ``region_error``). The transaction holds only while the region
is still as it was read (same status, start, end, last update and tiles): a region written since, by
a worker that was only slow, is left alone. Afterwards a worker that completes the region is refused
and counts nothing; a redelivered message restarts it as any ``FAILED`` region (counted as a retry).

``end-job`` (:func:`end_job`): end a job (``end_image_request``) once every one of its regions has an
outcome. A job whose regions are not all finished is refused, naming the regions still running and
how many of ``region_count`` were never recorded (a message that never reached a worker), unless
``force``. Ending is ``end_image_request`` itself: exactly one caller ever ends a job, and a job
already ended raises :class:`~pynamodb_tables.ImageAlreadyEndedError` with ``end_time`` unchanged.
"""

from dataclasses import dataclass, field
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from .. import clock, validation
from ..completion import finish
from ..errors import CompleteRegionException, EndImageException, InvalidRequestError
from ..items import RegionRequestItem, RequestStatus, is_outcome
from ..job_table import JobTable
from ..observing import Capacity, ConditionNotMet, failing_as, metered
from ..reads import jobs_to_repair, read_job
from ..region_request_table import RegionRequestTable, regions_of
from ..region_states import is_running_status
from ..store import store_of


def last_activity(start_ms: Optional[float], updated_ms: Optional[float]) -> Optional[int]:
    """The region's last known write (epoch milliseconds), or ``None`` when neither time is set."""
    times = [int(t) for t in (start_ms, updated_ms) if t is not None]
    return max(times) if times else None


def is_stale(status: Optional[str], start_ms: Optional[float], updated_ms: Optional[float], now_ms: int,
             stale_after_s: float) -> bool:
    """A region without an outcome whose last activity is at least ``stale_after_s`` seconds old."""
    last = last_activity(start_ms, updated_ms)
    return not is_outcome(status) and last is not None and max(0, now_ms - last) >= stale_after_s * 1000


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
            finish(regions_of(region_table), store_of(job_table), key, RequestStatus.FAILED, region=region,
                   as_read=True)
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


OPERATION = "end_job"


class JobNotFinishedError(EndImageException):
    """The job still has regions without an outcome (``.running``, ``.never_recorded``); nothing changed."""

    def __init__(self, message: str, running: List[str], never_recorded: int, **where: Any) -> None:
        super().__init__(message, **where)
        self.running = running
        self.never_recorded = never_recorded


@dataclass
class EndedJob:
    """A job ended: its end time and duration as stored, and what was still open when ``force`` ended it."""

    image_id: str
    end_time: int
    processing_duration: Optional[int]
    forced: bool
    running: List[str] = field(default_factory=list)
    never_recorded: int = 0
    capacity: Capacity = field(default_factory=Capacity)


def unfinished(region_count: Any, statuses: Sequence[Tuple[str, Optional[str]]]) -> Tuple[List[str], int]:
    """The regions without an outcome, and how many of ``region_count`` have no item at all."""
    running = sorted(region_id for region_id, status in statuses if not is_outcome(status))
    never_recorded = max(0, int(region_count) - len(statuses)) if region_count is not None else 0
    return running, never_recorded


def end_job(job_table: JobTable, region_table: RegionRequestTable, image_id: str, *, force: bool = False) -> EndedJob:
    """End the job of ``image_id`` if every region has an outcome (or ``force``); see the module."""
    with metered(job_table, region_table) as capacity:
        job = read_job(job_table, image_id, OPERATION, listed=False)
        assert job is not None
        regions = region_table.list_regions(image_id)
        running, never_recorded = unfinished(job.region_count, [(str(r.region_id), r.region_status) for r in regions])
        if job.end_time is None and (running or never_recorded) and not force:
            parts = [f"{len(running)} region(s) still running: {', '.join(running)}"] if running else []
            if never_recorded:
                parts.append(f"{never_recorded} of region_count {int(job.region_count or 0)} never recorded")
            raise JobNotFinishedError("not ended: " + "; ".join(parts) + " (--force ends it anyway)", running,
                                      never_recorded, operation=OPERATION, table=job_table.table_name,
                                      key=store_of(job_table).key(image_id))
        ended = job_table.end_image_request(image_id)
    return EndedJob(image_id, int(ended.end_time), None if ended.processing_duration is None
                    else int(ended.processing_duration), force and bool(running or never_recorded), running,
                    never_recorded, capacity)
