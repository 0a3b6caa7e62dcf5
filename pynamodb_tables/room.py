"""A region's room: the size rules that keep its item within its budget, so that it can always complete.

Every write but a completion keeps the region item within ``REGION_BUDGET`` (DynamoDB's 400 KB
less room for the completion) or, on an item already past it, grows it by no more than a change of
state does. A write
that need not read the item first proves its room in its condition (:func:`has_room_for`);
one that knows the item checks the exact size (:func:`room_problem`).
"""

import functools
import operator
from typing import Any, Iterable, Mapping, Optional, cast

from pynamodb.expressions.condition import Condition

from .attributes import TileListAttribute
from .models import RegionRequestItem
from .sizing import (
    ITEM_LIMIT,
    MAX_TILE_BYTES,
    OTHER_ATTRIBUTES_MAX,
    REGION_BUDGET,
    SMALL_TEXT,
    STATE_CHANGE_BYTES,
    appended_size,
    item_size,
)
from .tiles import Batch, length


def tile_bytes(batch: Batch) -> int:
    """Bytes appending ``batch`` adds to the item."""
    return sum(appended_size(TileListAttribute().serialize(tiles)) for tiles in batch.values())


def size_of(item: RegionRequestItem) -> int:
    """Bytes DynamoDB counts for ``item``."""
    return item_size(item.serialize(null_check=False))


def values_size(values: Mapping[str, Any]) -> int:
    """Bytes ``values`` take in a region item."""
    return size_of(RegionRequestItem(**values))


def room_problem(after: RegionRequestItem, *, before: Optional[RegionRequestItem] = None,
                 extra: int = 0) -> Optional[str]:
    """Why writing ``after`` (plus ``extra`` bytes) over ``before`` would take room the region must keep,
    or ``None``: it stays within the budget, or it grows an item already past it by no more than a
    change of state does (a status of another length, a time)."""
    size = size_of(after) + extra
    if size <= REGION_BUDGET or (before is not None and size <= size_of(before) + STATE_CHANGE_BYTES):
        return None
    return (f"the region item would grow to {size} bytes, past the {REGION_BUDGET} it may use (DynamoDB items "
            f"are limited to {ITEM_LIMIT} bytes, and a region keeps room to complete); nothing was written")


def has_room_for(extra: int, *, rewritten: Iterable[str] = ()) -> Condition:
    """The region exists and has room for ``extra`` more bytes whatever else it holds, as far as a
    condition can tell: both lists short enough, and ``message`` (the one text attribute of
    unbounded size) small. Where it does not hold, the writer looks at the item as stored (the
    refusal carries it) and checks its exact size. (Sixteen operators: a batch of 140 tiles takes
    the other 281 of DynamoDB's 300.)"""
    item = RegionRequestItem
    most = max(0, (REGION_BUDGET - OTHER_ATTRIBUTES_MAX - extra) // (2 * MAX_TILE_BYTES))
    lists = (item.succeeded_tiles, item.failed_tiles)
    condition = item.region_id.exists() & functools.reduce(
        operator.and_, (tile_list.does_not_exist() | (length(tile_list) < most) for tile_list in lists))
    if "message" not in rewritten:
        condition &= item.message.does_not_exist() | (length(item.message) <= SMALL_TEXT)
    return cast(Condition, condition)
