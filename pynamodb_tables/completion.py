"""A region's completion, and the model runner's two calls that make one.

Finishing a region (:func:`finish`): its outcome, the tiles it lacks and, with a job table, the
job's counter, in one DynamoDB transaction decided on the region as stored. Used by
``RegionRequestTable.complete_region_request`` (no job), ``complete_region`` and
``TileRecorder.complete`` (with the job), and the ``fail-stale`` repair (as read only).

The model runner's two calls (:class:`Tie`): a region finished with
``RegionRequestTable.complete_region_request`` and ``JobTable.complete_region_request(image_id,
error)``, counted as ``complete_region`` counts it.

The runner's handlers make both calls in the thread that started the region, one after the other, in
either order (success: the job's count first; failure: the region's outcome first). The job's call
names only the image; what ties it to the region is that thread: every ``start_region_request`` leaves
a :class:`Tie` to the region it returned in its thread, and the job's call of that image counts *that
region* (``region_states.count_actions``: the counter and the job's record of the region in one
conditional write), so that it is counted once, by its latest outcome, however often and in whichever
order the calls come (a crash between them and the message delivered again, a finished region
delivered again). A finished region's count is its success whatever the job's call says: ``SUCCESS`` is
final (a start replays it), so the tie of a replayed start holds that count.

A tie never misfires: it is used only by a job table on the same endpoint and region as the region
table that made it, for the image it names, and only while the job's item is the one it was made
for: the job started no later than the region, with the region's ``job_id`` where it has one (a
condition of the write: a region another test, image or job started earlier never ties). It ends
once its count has landed, and at the next start in its thread (a start that raises leaves none); a
job's call without one (a script, a thread that started nothing) is a bare counter, adding 1 as the
model runner's own module does.
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from pynamodb.expressions.condition import Condition

from . import clock
from .errors import CompleteRegionException, RegionAlreadyCompleteError, UpdateRegionException
from .items import (
    Batch,
    JobItem,
    RegionRequestItem,
    RequestStatus,
    is_outcome,
    recorded,
    set_actions,
    still,
    tile_lists,
    with_values,
)
from .observing import Failed, TransactionRefused, failing_as
from .region_states import (
    ERROR_COUNT,
    EXACT_ATTEMPTS,
    SUCCESS_COUNT,
    completion,
    count_actions,
    count_of,
    is_running_status,
    job_can_count,
    job_counted,
    same_decision,
)
from .room import room_problem, tile_bytes
from .store import Seen, Store, Write, settle, transact
from .tile_buffer import BufferedStore
from .tiles import append_actions, new_tiles, write_tiles

logger = logging.getLogger("pynamodb_tables")


def finish(regions: BufferedStore, jobs: Optional[Store[JobItem]], key: Dict[str, str],
           outcome: RequestStatus, *, region: Optional[RegionRequestItem] = None,
           values: Optional[Mapping[str, Any]] = None, tiles: Optional[Batch] = None,
           as_read: bool = False) -> Tuple[RegionRequestItem, Optional[JobItem]]:
    """Move the region of ``regions`` (a region table's store and buffer) to ``outcome`` with ``values``
    (the caller's own attributes, where they fit), append ``tiles`` it lacks and, with ``jobs`` (the job
    table's store), count it in its job: one transaction.

    ``region``: the region as the table last returned it, normalised (a running copy saves the
    read; the transaction holds only while it is still what is stored). Returns the region and
    the job as stored afterwards. Without a job, a region that already has ``outcome`` is returned
    as stored (a replay), one with another outcome is :class:`RegionAlreadyCompleteError`; with one,
    it is not counted again and tiles it lacks are still recorded (a late tile is recorded in any state).

    A region another worker keeps writing to (a duplicate delivery adding tiles) refuses an
    exact completion again and again; after :data:`EXACT_ATTEMPTS` such refusals the
    completion holds only while the region runs the same attempt, and the region is read back.

    ``as_read``: complete ``region`` (a running copy) only as it was read: if it changed since,
    nothing is written and :class:`~pynamodb_tables.observing.TransactionRefused` is raised
    (``stored_items[0]``: the region as stored) instead of deciding again on the new state.
    """
    store = regions.store
    job_key = jobs.key(key["image_id"]) if jobs is not None else None
    regions.before(key)
    batch: Batch = {state: list(each) for state, each in (tiles or {}).items() if each}
    own = dict(values or {})

    counted: Optional[str] = None  # what the job counts the region in, as last known
    known_count = False  # ... from the job as stored (else guessed from the region)

    def step(seen: Seen[RegionRequestItem]) -> Tuple[RegionRequestItem, Optional[JobItem]]:
        nonlocal own, counted, known_count
        stored = seen.item
        if stored is None:
            if seen.known:
                raise store.unknown(key) from seen.cause
            stored = store.existing(key)
        while True:
            if is_outcome(stored.region_status):
                if jobs is None and stored.region_status == outcome.value:
                    logger.debug("%s: already %s, a replay", key, stored.region_status)
                    regions.saw(stored)
                    return stored, None
                if jobs is None:
                    raise RegionAlreadyCompleteError(f"region already complete ({stored.region_status})", key=key,
                                                     item=stored)
                logger.debug("%s: already %s, nothing to count", key, stored.region_status)
                if new_tiles(stored, batch):
                    stored = _record(store, key, batch, stored)
                regions.saw(stored)
                return stored, jobs.existing(job_key or {})
            if stored.region_status is None:
                raise Failed("region was never started", key=key)
            exact = seen.moved_on < EXACT_ATTEMPTS
            new = new_tiles(stored, batch)
            if not (new and (not exact or room_problem(stored, extra=tile_bytes(new)))):
                break
            # Tiles in a write of their own: where they would take the room the region keeps (it raises
            # RegionFullError with nothing written: the outcome can still be recorded without them), or
            # where the completion cannot pin the lists they are appended to.
            stored = _record(store, key, new, stored)
        if own and room_problem(with_values(stored, own), before=stored):
            logger.warning("%s: no room for the item's attributes %s; the outcome is recorded without them",
                           key, ", ".join(sorted(own)))
            own = {}
        sets, condition = completion(stored, outcome, own if exact else {}, clock.now_ms(), exact=exact)
        writes = [Write(store, key, [*set_actions(RegionRequestItem, sets), *append_actions(new, stored)], condition)]
        for _ in range(EXACT_ATTEMPTS):
            if jobs is not None and job_key is not None:
                if not known_count:  # (a region restarted after an outcome was counted by it, most likely)
                    counted = ERROR_COUNT if stored.end_time is not None else None
                writes[1:] = [counting(jobs, job_key, key["region_id"], counted, outcome)]
            try:
                transact(writes, settings_from=store)
                break
            except TransactionRefused as refused:
                if jobs is None or job_key is None or not refused.refused[1]:
                    logger.debug("%s: refused (the region changed), after %d refusals", key, seen.refusals)
                    raise
                stored_job = refused.stored_items[1]
                if refused.refused[0]:  # (both changed: decided again on the region as stored, where a
                    if stored_job is not None:  # region ended since still gets its late tiles)
                        known_count, counted = True, job_counted(stored_job, key["region_id"])
                    raise
                if stored_job is None:
                    raise CompleteRegionException(jobs.missing, table=jobs.table_name,
                                                  key=job_key) from refused.__cause__
                was = job_counted(stored_job, key["region_id"])
                if known_count and was == counted:  # (the record holds, a counter does not: see job_can_count)
                    raise job_refusal(jobs, job_key, stored_job) from refused.__cause__
                known_count, counted = True, was  # decided again on the job's record as stored
        else:
            raise Failed("region not completed: the job's record of it kept changing", key=key)
        logger.debug("%s: %s recorded", key, outcome.value)
        finished = with_tiles(stored, sets, new) if exact else store.existing(key)
        regions.saw(finished)
        return finished, (jobs.existing(job_key) if jobs is not None and job_key is not None else None)

    return settle(step, Seen(region if is_running_copy(region) else None), gave_up="region not completed", key=key,
                  same_decision=same_decision, retry=not as_read)


def _record(store: Store[RegionRequestItem], key: Dict[str, str], batch: Batch,
            stored: RegionRequestItem) -> RegionRequestItem:
    """The tiles of ``batch`` the region lacks, in a write of their own (whose failures are the
    tile write's: :class:`~pynamodb_tables.errors.UpdateRegionException`)."""
    with failing_as(UpdateRegionException, None, store.table_name):
        return write_tiles(store, key, batch, region=stored)


def is_running_copy(item: Optional[RegionRequestItem]) -> bool:
    """Whether ``item`` carries a stored region's running state (status and start time)."""
    return item is not None and item.start_time is not None and is_running_status(item.region_status)


def with_tiles(region: RegionRequestItem, values: Mapping[str, object], batch: Batch) -> RegionRequestItem:
    """``region`` with ``values`` set and ``batch`` appended: what a completion leaves."""
    result = with_values(region, values)
    for state, tiles in batch.items():
        tile_list, tile_count = tile_lists(state)
        setattr(result, tile_list.attr_name, recorded(region, state) + tiles)
        setattr(result, tile_count.attr_name, int(getattr(region, tile_count.attr_name) or 0) + len(tiles))
    return result


def counting(jobs: Store[JobItem], job_key: Dict[str, str], region_id: str, was: Optional[str],
             outcome: RequestStatus) -> Write:
    """The job's write in a completion: the region counted by ``outcome`` where the job's record of it
    holds ``was`` (``None``: not counted; else the count its earlier outcome is in, given back).

    ``SUCCESS`` counts in ``region_success``, ``PARTIAL`` and ``FAILED`` in ``region_error``
    (``region_states.count_actions``). When the count stays as it is (an error after an error), the job
    still gets an update, adding 0.
    """
    return Write(jobs, job_key, count_actions(region_id, was, count_of(outcome)), job_can_count(region_id, was))


def job_refusal(jobs: Store[JobItem], job_key: Dict[str, str],
                stored_job: Optional[JobItem]) -> CompleteRegionException:
    """The error for a completion whose job write was refused: no job, or a record of the region whose
    counter does not hold it (a counter set by hand below its record: ``reconcile`` repairs it)."""
    if stored_job is None:
        return CompleteRegionException(jobs.missing, table=jobs.table_name, key=job_key)
    return CompleteRegionException(
        "the job records the region's earlier outcome, but its counter does not hold it (set since by "
        "another writer? `pynamodb-tables reconcile` recounts it); not counted", table=jobs.table_name,
        key=job_key, item=stored_job)


@dataclass(frozen=True)
class Tie:
    """The region a thread last started: where (its table's endpoint and region), which, and when."""

    host: Optional[str]
    region: Optional[str]
    region_table: str
    image_id: str
    region_id: str
    start_time: int
    job_id: Optional[str]
    final: Optional[str] = None  # the count of a finished (SUCCESS) region the start replayed: it stays so


_threads = threading.local()


def tie_to(store: Store[RegionRequestItem], started: RegionRequestItem) -> None:
    """Leave this thread's tie to ``started``, the region a start returned (stored, with its start time)."""
    if started.start_time is None:  # (never, for a stored start)
        return
    final = SUCCESS_COUNT if started.region_status == RequestStatus.SUCCESS.value else None
    _threads.tie = Tie(store.host, store.region, store.table_name, str(started.image_id), str(started.region_id),
                       int(started.start_time), started.job_id, final)


def forget() -> None:
    """End this thread's tie, whatever it is: a new start begins (one that raises leaves none)."""
    _threads.tie = None


def tie_for(jobs: Store[Any], image_id: str) -> Optional[Tie]:
    """This thread's tie, if a job table ``jobs`` counting ``image_id`` may use it."""
    tie: Optional[Tie] = getattr(_threads, "tie", None)
    if tie is None or tie.image_id != image_id or (tie.host, tie.region) != (jobs.host, jobs.region):
        return None
    return tie


def untie(tie: Tie) -> None:
    """End ``tie``: its count landed (or it was not made for the job it met)."""
    if getattr(_threads, "tie", None) is tie:
        _threads.tie = None


def made_for(tie: Tie, job: JobItem) -> bool:
    """Whether ``job`` (as stored) is the job ``tie``'s region was started for."""
    return job.start_time is not None and int(job.start_time) <= tie.start_time and \
        (tie.job_id is None or job.job_id == tie.job_id)


def is_made_for(tie: Tie) -> Condition:
    """The stored job is the one ``tie``'s region was started for (:func:`made_for`, as a condition)."""
    condition = JobItem.start_time <= tie.start_time
    if tie.job_id is not None:
        condition &= still(JobItem.job_id, tie.job_id)
    return condition
