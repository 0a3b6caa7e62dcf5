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

A start of a ``SUCCESS`` region is refused. ``end_time`` survives a restart: it marks a
region whose earlier outcome was counted (see ``complete_region``).
"""

from typing import Any, Dict, Optional, Tuple, cast

from pynamodb.expressions.condition import Condition

from . import clock, validation
from .errors import InvalidRegionRequestException
from .items import still
from .models import RegionRequestItem
from .status import NON_TERMINAL_VALUES, TERMINAL_VALUES, RequestStatus
from .tiles import lists_as_in

#: Attributes only the table's own state changes write; items never overwrite them.
TILE_ATTRIBUTES = ("succeeded_tiles", "succeeded_tile_count", "failed_tiles", "failed_tile_count")
LIFECYCLE_ATTRIBUTES = ("region_status", "region_retry_count", "start_time", "end_time", "expire_time",
                        "processing_duration", "last_updated_time")


def is_running() -> Condition:
    """The stored region has a status and it is not an outcome."""
    return RegionRequestItem.region_status.is_in(*sorted(NON_TERMINAL_VALUES))


def was_worked_on(stored: RegionRequestItem) -> bool:
    """Whether a start of ``stored`` is a retry: it has an outcome or any tile."""
    return stored.region_status in TERMINAL_VALUES or bool(stored.succeeded_tiles) or bool(stored.failed_tiles)


def same_attempt(stored: RegionRequestItem) -> Condition:
    """The region is still as ``stored`` saw it: same status, start, end and tiles, and not written
    since (every write sets ``last_updated_time``), so the item a write leaves is ``stored`` with
    the values it set."""
    item = RegionRequestItem
    return cast(Condition, item.region_id.exists() & still(item.region_status, stored.region_status)
                & still(item.start_time, stored.start_time) & still(item.end_time, stored.end_time)
                & still(item.last_updated_time, stored.last_updated_time) & lists_as_in(stored))


def is_this_new_start(stored: Optional[RegionRequestItem], now: int) -> bool:
    """Whether ``stored`` is a new region started at ``now`` and not restarted since: the start that
    was sent and whose answer was lost (or a twin started in the same millisecond, which is the same)."""
    return (stored is not None and stored.start_time == now and not stored.region_retry_count
            and stored.region_status not in TERMINAL_VALUES)


def start_values(values: Dict[str, Any], now: int) -> Dict[str, Any]:
    """What every start sets: the item's attributes, fresh times, status ``STARTED``."""
    return dict(values, start_time=now, last_updated_time=now, expire_time=clock.expire_time(now),
                region_status=RequestStatus.STARTED.value, processing_duration=0)


_EMPTY = {"region_retry_count": 0, "succeeded_tiles": [], "succeeded_tile_count": 0, "failed_tiles": [],
          "failed_tile_count": 0}


def start(stored: Optional[RegionRequestItem], values: Dict[str, Any], now: int) -> Tuple[Dict[str, Any], Condition]:
    """The values a start of ``stored`` (``None``: no region yet) sets, and the condition it holds under.

    New: everything, with no retry and empty lists. Untouched (no tile, no outcome): fresh times
    and status, no retry counted. Worked on: a retry counted, failed tiles cleared, succeeded
    tiles kept. Each holds only in the state it was decided on, so the item it leaves is
    ``stored`` with these values, and it can never land on a later state.
    """
    fresh = start_values(values, now)
    if stored is None:
        return {**fresh, **_EMPTY}, RegionRequestItem.region_id.does_not_exist()
    if was_worked_on(stored):
        fresh.update(region_retry_count=int(stored.region_retry_count or 0) + 1, failed_tiles=[], failed_tile_count=0)
    for name, empty in _EMPTY.items():
        if getattr(stored, name) is None:
            fresh.setdefault(name, empty)
    return fresh, same_attempt(stored)


def completion(stored: RegionRequestItem, region_status: RequestStatus) -> Tuple[Dict[str, Any], Condition]:
    """The values and condition that move ``stored`` to ``region_status``.

    The condition holds only while the region is still running the attempt that was read
    (same ``start_time`` and ``end_time``) with the same tiles, so the write cannot land twice
    or on a later attempt, and the region it leaves is ``stored`` with these values.
    """
    now = clock.now_ms()
    values: Dict[str, Any] = {"region_status": region_status.value, "end_time": now, "last_updated_time": now}
    if stored.start_time is not None:
        values["processing_duration"] = clock.duration_s(int(stored.start_time), now)
    item = RegionRequestItem
    condition = (is_running() & still(item.start_time, stored.start_time) & still(item.end_time, stored.end_time)
                 & still(item.last_updated_time, stored.last_updated_time) & lists_as_in(stored))
    return values, condition


def terminal_status(region_status: Any) -> RequestStatus:
    """``region_status`` as an outcome (``SUCCESS``, ``PARTIAL`` or ``FAILED``)."""
    status = validation.status(region_status, InvalidRegionRequestException)
    if not status.is_terminal:
        raise InvalidRegionRequestException(
            f"region_status {status.value} is not an outcome; expected SUCCESS, PARTIAL or FAILED")
    return status
