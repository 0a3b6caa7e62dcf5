"""A region's life, as a small state machine whose transitions are conditions written in one place.

::

                start                     update                    complete
    (no item) ────────▶ STARTED ────────────────────▶ IN_PROGRESS ───────────▶ SUCCESS (final)
                          │ ▲ ▲                                       │       ╲
                          │ │ └─ start, no tile and no outcome ◀──────┘        ▶ PARTIAL | FAILED
                          │ │    (a queued region picked up): not a retry              │
                          │ └─── restart, some tile or an outcome: ◀───────────────────┘
                          │      retry + 1, succeeded tiles kept, failed tiles cleared
                          └───── complete (as from IN_PROGRESS)

    Tiles are appended in any state (a late tile is still recorded).

Every transition is one conditional write that holds only in the state it starts from:

- start: :func:`start`, from no region, or from the region as it was seen (same status, start,
  end and tiles: :func:`same_attempt`) to a new attempt, counted as a retry if it was worked on;
- complete: :func:`completion`, from the attempt as it was seen to its outcome; a second
  completion finds an outcome and changes nothing.

Both are sent as transactions with a client request token, so that a resend of one that landed
(its answer lost) is not applied again, whatever another worker did in between.

A start of a ``SUCCESS`` region changes nothing (a replay). ``end_time`` survives a restart: it marks a
region whose earlier outcome was counted (see ``complete_region``).
"""

import base64
import functools
import hashlib
import operator
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, cast

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Value

from . import clock, validation
from .errors import InvalidRegionRequestException
from .items import (
    NON_TERMINAL_VALUES,
    Batch,
    Box,
    BoxAttribute,
    JobItem,
    RegionRequestItem,
    RequestStatus,
    TileListAttribute,
    absent,
    is_outcome,
    length,
    still,
    tile_lists,
)

#: Attributes only the table's own state changes write; items never overwrite them.
TILE_ATTRIBUTES = ("succeeded_tiles", "succeeded_tile_count", "failed_tiles", "failed_tile_count")
LIFECYCLE_ATTRIBUTES = ("region_status", "region_retry_count", "start_time", "end_time", "expire_time",
                        "processing_duration", "last_updated_time")
#: Of those, the ones only a start or a completion writes (an update never does: an item kept from an
#: earlier attempt never moves the region back to it).
ONLY_STATE_CHANGES_WRITE = ("region_retry_count", "start_time", "end_time", "expire_time")


#: Refusals by another worker's writes to the same running attempt after which a state change stops
#: pinning the whole region (a start, a completion) and a tile write stops pinning its lists.
EXACT_ATTEMPTS = 3


def is_running_status(status: Any) -> bool:
    """Whether ``status`` (a status's stored value) is a running one: ``STARTED`` or ``IN_PROGRESS``
    (``None``, no status, is neither running nor an outcome)."""
    return status in NON_TERMINAL_VALUES


def region_exists() -> Condition:
    """The region item exists."""
    return RegionRequestItem.region_id.exists()


def is_running() -> Condition:
    """The stored region has a status and it is not an outcome."""
    return RegionRequestItem.region_status.is_in(*sorted(NON_TERMINAL_VALUES))


def was_worked_on(stored: RegionRequestItem) -> bool:
    """Whether a start of ``stored`` is a retry: it has an outcome or any tile."""
    return is_outcome(stored.region_status) or bool(stored.succeeded_tiles) or bool(stored.failed_tiles)


def unchanged(stored: RegionRequestItem, overwritten: Iterable[str] = ()) -> Condition:
    """The region is exactly as ``stored`` holds it (its tile lists by their length: within an attempt
    they only grow, and every restart moves ``start_time``), except for ``overwritten``: the
    caller's own attributes a write sets whatever they hold. A write decided on ``stored`` under
    this condition leaves ``stored`` with the values it sets. ``stored`` holds normalised values
    (as loaded, or built from ``validation.region_values``)."""
    skip = set(overwritten)
    conditions: List[Condition] = [region_exists()]
    for name, attribute in RegionRequestItem.get_attributes().items():
        if name in skip or attribute.is_hash_key or attribute.is_range_key:
            continue
        value = getattr(stored, name)
        if isinstance(attribute, TileListAttribute):
            conditions.append(has_length_of(attribute, value))
        else:
            conditions.append(still(attribute, value))
    return functools.reduce(operator.and_, conditions)


def same_attempt(stored: RegionRequestItem) -> Condition:
    """The region still runs the attempt ``stored`` saw: running, same start and end. Weaker than
    :func:`unchanged`: tiles and other attributes may have been written since."""
    item = RegionRequestItem
    return cast(Condition, is_running() & still(item.start_time, stored.start_time)
                & still(item.end_time, stored.end_time))


def is_this_new_start(stored: Optional[RegionRequestItem], now: int) -> bool:
    """Whether ``stored``, met by the resend of a new region's start at ``now`` whose answer was lost, is
    that start landed: its start time is ``now`` or later. Every start of a region is later than the one
    it follows (:func:`start_time_after`), so once this start landed, whatever happened to the region in
    the window (another worker started it again, recorded tiles, completed it), its start time is at
    least ``now``; a region another worker created before it holds an earlier start time (unless its
    clock runs ahead of this one's: then this start joins that attempt rather than restarting it)."""
    return stored is not None and stored.start_time is not None and int(stored.start_time) >= now


def start_time_after(stored: Optional[RegionRequestItem], now: int) -> int:
    """The start time of a start at ``now`` (this worker's clock) of ``stored``: later than the stored
    attempt's, whatever this worker's clock says."""
    return max(now, int(stored.start_time or 0) + 1) if stored is not None else now


def start_values(values: Dict[str, Any], now: int) -> Dict[str, Any]:
    """What every start sets: the item's attributes, fresh times, status ``STARTED``."""
    return dict(values, start_time=now, last_updated_time=now, expire_time=clock.expire_time(now),
                region_status=RequestStatus.STARTED.value, processing_duration=0)


_EMPTY = {"region_retry_count": 0, "succeeded_tiles": [], "succeeded_tile_count": 0, "failed_tiles": [],
          "failed_tile_count": 0}


def start(stored: Optional[RegionRequestItem], values: Dict[str, Any], now: int, *,
          exact: bool = True) -> Tuple[Dict[str, Any], Condition]:
    """The values a start of ``stored`` (``None``: no region yet) sets, and the condition it holds under.

    New: everything, with no retry and empty lists. Untouched (no tile, no outcome): fresh times
    and status, no retry counted. Worked on: a retry counted, failed tiles cleared, succeeded
    tiles kept. ``exact``: only while the region is as ``stored`` holds it (:func:`unchanged`),
    so the item it leaves is ``stored`` with these values. Otherwise only while the decision
    holds (same status, start, end and retry count, and no tile yet if it had none): for a region
    another worker keeps writing tiles to, where the result is read back. Either way it can never
    land on a later state.
    """
    fresh = start_values(values, now)
    if stored is None:
        return {**fresh, **_EMPTY}, RegionRequestItem.region_id.does_not_exist()
    worked_on = was_worked_on(stored)
    if worked_on:
        fresh.update(region_retry_count=int(stored.region_retry_count or 0) + 1, failed_tiles=[], failed_tile_count=0)
    if exact or not worked_on:  # (loose, a list might have gained a tile since: never set it empty)
        for name, empty in _EMPTY.items():
            if getattr(stored, name) is None:
                fresh.setdefault(name, empty)
    return fresh, (unchanged(stored, values) if exact else start_decision_holds(stored))


def start_decision_holds(stored: RegionRequestItem) -> Condition:
    """A start decided on ``stored`` is still right: same status, start, end and retry count, and no
    tile yet if it had none. Weaker than :func:`unchanged`: tiles and other attributes may have been
    written since."""
    item = RegionRequestItem
    condition = (region_exists() & still(item.region_status, stored.region_status)
                 & still(item.start_time, stored.start_time) & still(item.end_time, stored.end_time)
                 & still(item.region_retry_count, stored.region_retry_count))
    if not was_worked_on(stored):
        condition &= is_empty(item.succeeded_tiles) & is_empty(item.failed_tiles)
    return cast(Condition, condition)


def same_decision(before: RegionRequestItem, after: RegionRequestItem) -> bool:
    """Whether a state change decided on ``before`` is still right on ``after``: the region changed in
    its tiles or other attributes only (another worker writing to the same attempt)."""
    return all(getattr(before, name) == getattr(after, name)
               for name in ("region_status", "start_time", "end_time", "region_retry_count")) \
        and was_worked_on(before) == was_worked_on(after)


def completion(stored: RegionRequestItem, region_status: RequestStatus, values: Mapping[str, Any], now: int, *,
               exact: bool = True) -> Tuple[Dict[str, Any], Condition]:
    """The values that move ``stored`` to ``region_status`` (with ``values``, the caller's attributes),
    and the condition they hold under.

    ``exact``: only while the region is still as ``stored`` holds it (:func:`unchanged`), so the
    write cannot land twice or on a later attempt, and the region it leaves is ``stored`` with these
    values. Otherwise only while it runs the same attempt (:func:`same_attempt`): for a region that
    another worker keeps writing tiles to, where the result is read back.
    """
    sets: Dict[str, Any] = dict(values, region_status=region_status.value, end_time=now, last_updated_time=now)
    if stored.start_time is not None:
        sets["processing_duration"] = clock.duration_s(int(stored.start_time), now)
    condition = is_running() & (unchanged(stored, values) if exact else same_attempt(stored))
    return sets, cast(Condition, condition)


# -- an update's total and status ------------------------------------------------------------------

def has_status(status: str) -> Condition:
    """The stored region's status is ``status`` (an update carrying the region's outcome unchanged: a
    finished region delivered again writes its other attributes, never its status)."""
    return RegionRequestItem.region_status == status


def total_kept(total: int, succeeded: Optional[int], failed: Optional[int]) -> Condition:
    """An update's ``total_tiles`` ``total`` may be written as it is, decided without a read: the stored
    total is not larger and the tiles recorded are not more (each count at most the caller's own
    count of it, ``succeeded`` / ``failed``, which add up to at most ``total``; unknown: ``total`` and
    0). Otherwise the total is decided on the item as stored (:func:`region_total`)."""
    item = RegionRequestItem
    if succeeded is None or failed is None or succeeded + failed > total:
        succeeded, failed = total, 0
    return cast(Condition, (absent(item.total_tiles) | (item.total_tiles <= total))
                & (absent(item.succeeded_tile_count) | (item.succeeded_tile_count <= succeeded))
                & (absent(item.failed_tile_count) | (item.failed_tile_count <= failed)))


def region_total(stored: RegionRequestItem, total: int) -> int:
    """The region's ``total_tiles`` after an update giving ``total``: never below the stored total or the
    tiles recorded (a redelivery counting only the tiles it processed this time keeps the region's)."""
    recorded = int(stored.succeeded_tile_count or 0) + int(stored.failed_tile_count or 0)
    return max(total, int(stored.total_tiles or 0), recorded)


def totals_as_in(stored: RegionRequestItem) -> Condition:
    """The stored total and tile counts are still those :func:`region_total` was decided on."""
    item = RegionRequestItem
    return cast(Condition, still(item.total_tiles, stored.total_tiles)
                & still(item.succeeded_tile_count, stored.succeeded_tile_count)
                & still(item.failed_tile_count, stored.failed_tile_count))


def terminal_status(region_status: Any) -> RequestStatus:
    """``region_status`` as an outcome (``SUCCESS``, ``PARTIAL`` or ``FAILED``)."""
    status = validation.status(region_status, InvalidRegionRequestException)
    if not status.is_terminal:
        raise InvalidRegionRequestException(
            f"region_status {status.value} is not an outcome; expected SUCCESS, PARTIAL or FAILED")
    return status


# -- the job ------------------------------------------------------------------------------------

def job_exists() -> Condition:
    """The job item exists."""
    return JobItem.image_id.exists()


def job_is_new() -> Condition:
    """No job item exists yet (a start)."""
    return JobItem.image_id.does_not_exist()


def is_new_attempt(stored: JobItem, job_id: Optional[str]) -> bool:
    """Whether a start of ``stored``'s image by ``job_id`` is a new attempt of it (nothing changes): the
    job has not ended and is the same job. (Else the start is refused.)"""
    return stored.end_time is None and stored.job_id == job_id


def job_counts_as(stored: JobItem) -> Condition:
    """The job's counters are still as ``stored`` holds them."""
    return cast(Condition, still(JobItem.region_success, stored.region_success)
                & still(JobItem.region_error, stored.region_error))


def job_is_running() -> Condition:
    """The job has not ended (an ended job keeps its ``end_time`` and duration)."""
    return absent(JobItem.end_time)


def job_can_end(stored: JobItem) -> Condition:
    """An end decided on ``stored``: the job has not ended and its counters are as read, so that the
    job the end leaves is ``stored`` with the values it sets."""
    return cast(Condition, job_exists() & job_is_running() & job_counts_as(stored))


# -- the job's record of the regions it counted ---------------------------------------------------
#
# Every count of a region in its job (``complete_region``, ``TileRecorder.complete``, the repairs, the
# model runner's two calls) moves the counter and the job's record of the region in one write: the
# region's entry (:func:`counted_entry`) in ``region_success_ids`` or ``region_error_ids``. The write
# holds only while the record is as decided on (:func:`job_counted_as`), so a region is counted once, by
# its latest outcome, whichever way and however often it is counted: a resend of a count that landed,
# a second delivery, the other of the runner's two calls.

SUCCESS_COUNT, ERROR_COUNT = "success", "error"


def count_of(outcome: Any) -> str:
    """The count an outcome is counted in: ``SUCCESS`` in ``region_success``, ``PARTIAL`` and ``FAILED`` in
    ``region_error`` (``outcome``: a status or its value)."""
    value = outcome.value if isinstance(outcome, RequestStatus) else outcome
    return SUCCESS_COUNT if value == RequestStatus.SUCCESS.value else ERROR_COUNT


def counted_entry(region_id: str) -> str:
    """The region's entry in its job's record: 16 characters of a digest of its id (96 bits: a job
    records any number of regions in a few bytes each, and two regions of one image never share one)."""
    digest = hashlib.blake2b(region_id.encode(), digest_size=12).digest()
    return base64.urlsafe_b64encode(digest).decode()


def _ids(count: str) -> Any:
    return JobItem.region_success_ids if count == SUCCESS_COUNT else JobItem.region_error_ids


def _counter(count: str) -> Any:
    return JobItem.region_success if count == SUCCESS_COUNT else JobItem.region_error


def counter_name(count: str) -> str:
    """The name of the job's counter for ``count``: ``region_success`` or ``region_error``."""
    return str(_counter(count).attr_name)


def job_counted(stored: JobItem, region_id: str) -> Optional[str]:
    """What ``stored`` counts the region in (:data:`SUCCESS_COUNT`, :data:`ERROR_COUNT`), or ``None``."""
    entry = counted_entry(region_id)
    for count in (SUCCESS_COUNT, ERROR_COUNT):
        if entry in (getattr(stored, _ids(count).attr_name) or ()):
            return count
    return None


def job_counted_as(region_id: str, count: Optional[str]) -> Condition:
    """The job counts the region in ``count`` (``None``: in neither)."""
    entry = counted_entry(region_id)
    if count is None:
        return cast(Condition, ~_ids(SUCCESS_COUNT).contains(entry) & ~_ids(ERROR_COUNT).contains(entry))
    return cast(Condition, _ids(count).contains(entry))


def count_actions(region_id: str, was: Optional[str], count: str) -> List[Any]:
    """The actions moving the region's count from ``was`` (``None``: not counted) to ``count``: the
    counters and the record together. Counted as it was already: a counter gets 0 (a job write with no
    action would be a ``ConditionCheck``, an IAM action the model runner's worker role does not have)."""
    if was == count:
        return [_counter(count).add(0)]
    entry = counted_entry(region_id)
    actions = [_counter(count).add(1), _ids(count).add({entry})]
    if was is not None:
        actions += [_counter(was).add(-1), _ids(was).delete({entry})]
    return actions


def job_can_count(region_id: str, was: Optional[str]) -> Condition:
    """A count of the region decided on the job's record holding ``was``: the job exists, its record is
    still that and, where a count is given back, the counter holds it."""
    condition = job_exists() & job_counted_as(region_id, was)
    if was is not None:
        condition &= _counter(was) >= 1
    return cast(Condition, condition)


def is_empty(tile_list: TileListAttribute) -> Condition:
    return cast(Condition, absent(tile_list) | (length(tile_list) == 0))


def has_length_of(tile_list: TileListAttribute, stored: Optional[Sequence[Box]]) -> Condition:
    """``tile_list`` holds as many tiles as ``stored`` (within an attempt, lists only grow)."""
    if not stored:
        return is_empty(tile_list)
    return cast(Condition, length(tile_list) == len(stored))


def lists_as_in(item: RegionRequestItem) -> Condition:
    """Both lists hold what ``item`` holds (they only grow within an attempt: same lengths, same tiles)."""
    return cast(Condition, has_length_of(RegionRequestItem.succeeded_tiles, item.succeeded_tiles)
                & has_length_of(RegionRequestItem.failed_tiles, item.failed_tiles))


def none_recorded(batch: Batch) -> Condition:
    """None of ``batch``'s tiles is in its state's list yet (one ``contains`` per tile)."""
    checks = [tile_lists(state)[0].contains(Value(tile, attribute=BoxAttribute()))
              for state, tiles in batch.items() for tile in tiles]
    return cast(Condition, ~functools.reduce(operator.or_, checks))
