"""``reconcile``: recount what the tables count, from what they hold, and fix what drifted.

Recounted:

- each region's ``succeeded_tile_count`` and ``failed_tile_count``: the tiles in its lists (a
  tile listed twice, as the model runner's own ``add_tile`` appends a tile delivered again,
  counts once);
- the job's ``region_success`` (regions whose latest outcome is ``SUCCESS``) and
  ``region_error`` (``PARTIAL`` or ``FAILED``), by :func:`counted_as`.

A region restarted after a ``PARTIAL`` or ``FAILED`` outcome and running again keeps its
``end_time``, and ``complete_region`` keeps it counted in ``region_error`` until its next outcome
(a later ``SUCCESS`` moves it from ``region_error`` to ``region_success``, on condition that
``region_error >= 1``). Reconcile counts it the same way: its latest outcome is still that error.
Taking it out of ``region_error`` would make its later ``SUCCESS`` refused, or drive the count
below zero. A running region without ``end_time`` has had no outcome counted: neither.

Fixes are conditional writes that hold only while the item is still as read:

- a region's counts are set on condition that its lists hold what was read and it was not
  written since (``last_updated_time`` as read); the write moves ``last_updated_time`` on by one
  millisecond, so that a worker's copy read before it no longer matches the stored item (the
  package's own conditions then read again) while the region does not look freshly worked on;
- the job's counters are set on condition that they are still as read. The job is read before
  its regions, and every change of a region's category by this package moves the job's counters
  in the same transaction (``complete_region``), so a region that changed after the job was read
  makes the write refused.

After writing, the job is read again until the tables agree with the recount (a worker or another
repair may have written meanwhile).
"""

from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from pynamodb.expressions.update import Action

from ..errors import CompleteRegionException, UpdateRegionException
from ..items import RegionRequestItem, RequestStatus, still
from ..job_table import JobItem, JobTable
from ..observing import Capacity, ConditionNotMet, failing_as, metered
from ..reads import jobs_to_repair, read_job
from ..region_request_table import RegionRequestTable
from ..region_states import (
    counted_entry,
    counter_name,
    is_running_status,
    job_counted,
    job_counts_as,
    job_exists,
    unchanged,
)
from ..store import Seen, settle, store_of

OPERATION = "reconcile"
SUCCESS, ERROR = "region_success", "region_error"
TILE_COUNTS = (("succeeded_tile_count", "succeeded_tiles"), ("failed_tile_count", "failed_tiles"))


@dataclass(frozen=True)
class Drift:
    """A count that differs from its recount: ``region_id`` is ``None`` for the job's counters."""

    image_id: str
    region_id: Optional[str]
    attribute: str
    stored: Optional[int]
    recounted: int
    fixed: bool


@dataclass
class Reconciliation:
    """What a reconcile found (and fixed), over how many jobs, and what it spent."""

    drifts: List[Drift] = field(default_factory=list)
    jobs_checked: int = 0
    dry_run: bool = False
    capacity: Capacity = field(default_factory=Capacity)

    @property
    def agrees(self) -> bool:
        """The tables agree with the recount: no drift, or every drift fixed."""
        return all(drift.fixed for drift in self.drifts)


def counted_as(region: RegionRequestItem, job: Optional[JobItem] = None) -> Optional[str]:
    """The job counter that counts ``region`` (``"region_success"``, ``"region_error"``), or ``None``.

    Its latest outcome decides. A running region keeps what ``job``'s record of it says (the model
    runner's job call counts a region before its outcome is written); one the job does not record,
    restarted after an error outcome (``end_time`` kept), is still counted in ``region_error``.
    """
    status = region.region_status
    if status == RequestStatus.SUCCESS.value:
        return SUCCESS
    if status in (RequestStatus.PARTIAL.value, RequestStatus.FAILED.value):
        return ERROR
    if is_running_status(status):
        recorded = job_counted(job, str(region.region_id)) if job is not None else None
        if recorded is not None:
            return counter_name(recorded)
        if region.end_time is not None:
            return ERROR
    return None


def tile_count(tiles: Optional[Sequence[Any]]) -> int:
    """The tiles a list records, each once."""
    seen: Set[str] = {repr([[int(v) for v in pair] for pair in tile]) for tile in tiles or []}
    return len(seen)


def whole(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def region_drifts(image_id: str, region: RegionRequestItem) -> List[Drift]:
    drifts = []
    for count, tiles in TILE_COUNTS:
        stored, recounted = whole(getattr(region, count)), tile_count(getattr(region, tiles))
        if stored != recounted:
            drifts.append(Drift(image_id, region.region_id, count, stored, recounted, False))
    return drifts


def job_drifts(job: JobItem, regions: Iterable[RegionRequestItem]) -> List[Drift]:
    categories = [counted_as(region, job) for region in regions]
    drifts = []
    for counter in (SUCCESS, ERROR):
        stored, recounted = whole(getattr(job, counter)), categories.count(counter)
        if stored != recounted:
            drifts.append(Drift(str(job.image_id), None, counter, stored, recounted, False))
    return drifts


def landed_before(refused: ConditionNotMet, drifts: List[Drift]) -> bool:
    """Whether a fix refused on its resend had landed (its first answer lost): the item holds what it set.
    (A worker may have set the same counts meanwhile: the drift is fixed either way.)"""
    return refused.after_unknown and refused.stored is not None and \
        all(whole(getattr(refused.stored, drift.attribute)) == drift.recounted for drift in drifts)


def fix_region(region_table: RegionRequestTable, region: RegionRequestItem, drifts: List[Drift]) -> bool:
    """Set the region's drifted counts if it is still as read; whether the write landed."""
    item = RegionRequestItem
    actions: List[Action] = [item.get_attributes()[d.attribute].set(d.recounted) for d in drifts]
    if region.last_updated_time is not None:
        actions.append(item.last_updated_time.set(int(region.last_updated_time) + 1))
    condition = unchanged(region)  # still exactly as read
    store = store_of(region_table)
    try:
        with failing_as(UpdateRegionException, OPERATION, store.table_name):
            store.update(store.key(str(region.image_id), str(region.region_id)), actions, condition)
    except ConditionNotMet as refused:
        return landed_before(refused, drifts)
    return True


def fix_job(job_table: JobTable, job: JobItem, drifts: List[Drift], regions: Sequence[RegionRequestItem]) -> bool:
    """Set the job's drifted counters, and its record of the regions it counts with them, if they are still
    as read; whether the write landed."""
    actions: List[Action] = [JobItem.get_attributes()[d.attribute].set(d.recounted) for d in drifts]
    condition = job_exists() & job_counts_as(job)
    for counter, ids in ((SUCCESS, JobItem.region_success_ids), (ERROR, JobItem.region_error_ids)):
        entries = {counted_entry(str(region.region_id)) for region in regions if counted_as(region, job) == counter}
        actions.append(ids.set(entries) if entries else ids.remove())
        condition &= still(ids, getattr(job, ids.attr_name))
    store = store_of(job_table)
    try:
        with failing_as(CompleteRegionException, OPERATION, store.table_name):
            store.update(store.key(str(job.image_id)), actions, condition)
    except ConditionNotMet as refused:
        return landed_before(refused, drifts)
    return True


def reconcile_job(job_table: JobTable, region_table: RegionRequestTable, image_id: str, *, dry_run: bool,
                  listed: bool = False) -> Tuple[bool, List[Drift]]:
    """Recount one job; whether it exists, and its drifts (fixed unless ``dry_run``). After fixing, the
    job is read again (a refused fix: a worker wrote meanwhile, it wins) until the tables agree."""
    fixed: List[Drift] = []

    def step(seen: Seen[JobItem]) -> Tuple[bool, List[Drift]]:
        nonlocal fixed
        job = read_job(job_table, image_id, OPERATION, listed=listed)  # before its regions: see the module
        if job is None:
            return False, fixed
        regions = region_table.list_regions(image_id)
        by_region: Dict[str, List[Drift]] = {}
        for region in regions:
            drifted = region_drifts(image_id, region)
            if drifted:
                by_region[str(region.region_id)] = drifted
        counters = job_drifts(job, regions)
        found = [drift for drifts in by_region.values() for drift in drifts] + counters
        if dry_run or not found:
            return True, fixed + found
        for region in regions:
            drifted = by_region.get(str(region.region_id), [])
            if drifted:
                landed = fix_region(region_table, region, drifted)
                fixed += [replace(d, fixed=True) for d in drifted if landed]
        if counters:
            landed = fix_job(job_table, job, counters, regions)
            fixed += [replace(d, fixed=True) for d in counters if landed]
        raise ConditionNotMet(job, False)  # read again, to see the tables agree

    store = store_of(job_table)
    key = store.key(image_id)
    with failing_as(CompleteRegionException, OPERATION, store.table_name):
        return settle(step, gave_up="the job not reconciled", key=key)


def reconcile(job_table: JobTable, region_table: RegionRequestTable, image_ids: Optional[Iterable[str]] = None,
              *, dry_run: bool = False) -> Reconciliation:
    """Recount the jobs ``image_ids`` (``None``: every job in the job table) and, unless ``dry_run``,
    fix every drift with writes that hold only while the item is still as read.

    An unknown image given by id raises the package's error (nothing is written for it).
    """
    result = Reconciliation(dry_run=dry_run)
    with metered(job_table, region_table) as capacity:
        for image_id in jobs_to_repair(job_table, image_ids):
            exists, drifts = reconcile_job(job_table, region_table, image_id, dry_run=dry_run,
                                           listed=image_ids is None)
            result.jobs_checked += exists
            result.drifts += drifts
    result.capacity = capacity
    return result
