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

- start (new or untouched): :func:`is_new_or_untouched`; applying it twice changes nothing more;
- restart: :func:`same_attempt` of the region as it was seen, sent as a transaction with a
  client request token, so that a resend of a restart that landed is not applied again;
- complete: :func:`completion`, from the attempt as it was seen (same start, same end, same
  tiles) to its outcome; a second completion finds an outcome and changes nothing.

A start of a ``SUCCESS`` region is refused. ``end_time`` survives a restart: it marks a
region whose earlier outcome was counted (see ``complete_region``).
"""

from typing import Any, Dict, List, Tuple, cast

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from . import clock, validation
from .errors import InvalidRegionRequestException
from .items import set_actions, still
from .models import RegionRequestItem
from .status import NON_TERMINAL_VALUES, TERMINAL_VALUES, RequestStatus
from .tiles import is_empty, lists_as_in

#: Attributes only the table's own state changes write; items never overwrite them.
TILE_ATTRIBUTES = ("succeeded_tiles", "succeeded_tile_count", "failed_tiles", "failed_tile_count")
LIFECYCLE_ATTRIBUTES = ("region_status", "region_retry_count", "start_time", "end_time", "expire_time",
                        "processing_duration", "last_updated_time")


def is_running() -> Condition:
    """The stored region has a status and it is not an outcome."""
    return RegionRequestItem.region_status.is_in(*sorted(NON_TERMINAL_VALUES))


def is_new_or_untouched() -> Condition:
    """No region yet, or one without an outcome and without any tile (queued, then picked up)."""
    item = RegionRequestItem
    untouched = ((item.region_status.does_not_exist() | is_running())
                 & is_empty(item.succeeded_tiles) & is_empty(item.failed_tiles))
    return cast(Condition, item.region_id.does_not_exist() | untouched)


def was_worked_on(stored: RegionRequestItem) -> bool:
    """Whether a start of ``stored`` is a retry: it has an outcome or any tile."""
    return stored.region_status in TERMINAL_VALUES or bool(stored.succeeded_tiles) or bool(stored.failed_tiles)


def same_attempt(stored: RegionRequestItem) -> Condition:
    """The region is still as ``stored`` saw it: same status, start, end and tiles."""
    item = RegionRequestItem
    return cast(Condition, item.region_id.exists() & still(item.region_status, stored.region_status)
                & still(item.start_time, stored.start_time) & still(item.end_time, stored.end_time)
                & lists_as_in(stored))


def start_values(values: Dict[str, Any], now: int) -> Dict[str, Any]:
    """What every start sets: the item's attributes, fresh times, status ``STARTED``."""
    return dict(values, start_time=now, last_updated_time=now, expire_time=clock.expire_time(now),
                region_status=RequestStatus.STARTED.value, processing_duration=0)


def start_actions(values: Dict[str, Any], now: int) -> List[Action]:
    """A start of a new or untouched region: no retry counted, lists and counts created if absent."""
    item = RegionRequestItem
    return [*set_actions(item, start_values(values, now)),
            item.region_retry_count.set(item.region_retry_count | 0),
            item.succeeded_tiles.set(item.succeeded_tiles | []),
            item.succeeded_tile_count.set(item.succeeded_tile_count | 0),
            item.failed_tiles.set(item.failed_tiles | []),
            item.failed_tile_count.set(item.failed_tile_count | 0)]


def restart_actions(values: Dict[str, Any], now: int) -> List[Action]:
    """A restart: a retry counted, failed tiles cleared, succeeded tiles kept."""
    item = RegionRequestItem
    fresh = dict(start_values(values, now), failed_tiles=[], failed_tile_count=0)
    return [*set_actions(item, fresh), item.region_retry_count.set((item.region_retry_count | 0) + 1),
            item.succeeded_tiles.set(item.succeeded_tiles | []),
            item.succeeded_tile_count.set(item.succeeded_tile_count | 0)]


def restarted(stored: RegionRequestItem, values: Dict[str, Any], now: int) -> Dict[str, Any]:
    """The values :func:`restart_actions` leaves on ``stored`` (whose lists the restart's condition pinned)."""
    return dict(start_values(values, now), region_retry_count=int(stored.region_retry_count or 0) + 1,
                failed_tiles=[], failed_tile_count=0, succeeded_tiles=list(stored.succeeded_tiles or []),
                succeeded_tile_count=int(stored.succeeded_tile_count or 0))


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
                 & lists_as_in(stored))
    return values, condition


def terminal_status(region_status: Any) -> RequestStatus:
    """``region_status`` as an outcome (``SUCCESS``, ``PARTIAL`` or ``FAILED``)."""
    status = validation.status(region_status, InvalidRegionRequestException)
    if not status.is_terminal:
        raise InvalidRegionRequestException(
            f"region_status {status.value} is not an outcome; expected SUCCESS, PARTIAL or FAILED")
    return status
