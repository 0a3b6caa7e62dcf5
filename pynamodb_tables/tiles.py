"""A region's two tile lists: which list a state writes, which tiles are new, and the conditions
and actions that append to them."""

import functools
import operator
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, cast

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.operand import Value
from pynamodb.expressions.update import Action

from . import validation
from .items import Box, BoxAttribute, RegionRequestItem, TileListAttribute, TileState, absent

#: Most tiles a write checks one by one in its condition (a ``contains`` and an ``OR`` each,
#: beside sixteen operators for the room: ``room.has_room_for``; DynamoDB allows 300 in an expression).
MAX_TILES_PER_WRITE = 140

Batch = Dict[TileState, List[Box]]
TileKey = Tuple[Tuple[int, ...], ...]


def tile_lists(state: TileState) -> Tuple[TileListAttribute, NumberAttribute]:
    """The list and count attributes that record tiles of ``state``."""
    if state is TileState.SUCCEEDED:
        return RegionRequestItem.succeeded_tiles, RegionRequestItem.succeeded_tile_count
    return RegionRequestItem.failed_tiles, RegionRequestItem.failed_tile_count


def recorded(item: Optional[RegionRequestItem], state: TileState) -> List[Box]:
    """The tiles ``item`` holds in ``state``'s list."""
    return list(getattr(item, tile_lists(state)[0].attr_name) or []) if item is not None else []


def unique_tiles(tiles: Iterable[Any]) -> List[Box]:
    """Validated tiles in order, each once."""
    return once([validation.tile(each) for each in tiles])


def once(tiles: Iterable[Box]) -> List[Box]:
    """``tiles`` in order, each once."""
    seen: Set[TileKey] = set()
    result = []
    for tile in tiles:
        marker = tile_key(tile)
        if marker not in seen:
            seen.add(marker)
            result.append(tile)
    return result


def unrecorded(already: Optional[Sequence[Box]], tiles: Sequence[Box]) -> List[Box]:
    """The tiles of ``tiles`` not in ``already``, in order."""
    seen = {tile_key(tile) for tile in already or []}
    return [tile for tile in tiles if tile_key(tile) not in seen]


def new_tiles(item: Optional[RegionRequestItem], batch: Batch) -> Batch:
    """The tiles of ``batch`` that ``item`` does not hold yet, each once, by state (empty states left out)."""
    new = {state: unrecorded(recorded(item, state), once(tiles)) for state, tiles in batch.items()}
    return {state: tiles for state, tiles in new.items() if tiles}


def tiles_to_process(region_item: Optional[RegionRequestItem], tiles: Iterable[Any]) -> List[Box]:
    """The tiles of a region that still need processing: those not among its succeeded tiles.

    For a worker resuming a region (after ``start_region_request`` on a retry or redrive):
    tiles that failed before are processed again, tiles that succeeded are not. ``tiles`` is
    every tile of the region in processing order; the order is kept and each tile given once.
    """
    return unrecorded(recorded(region_item, TileState.SUCCEEDED), unique_tiles(tiles))


def tile_key(tile: Box) -> TileKey:
    """A tile as a hashable value (tiles are recorded by content)."""
    return tuple(tuple(pair) for pair in tile)


def length(attribute: Any) -> Any:
    """The stored list's length (or text's size), as an operand of a condition."""
    return size(attribute)  # type: ignore[no-untyped-call]  # (PynamoDB leaves it unannotated)


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


def append_actions(batch: Batch, stored: Optional[RegionRequestItem] = None) -> List[Action]:
    """Append each state's tiles to its list and add them to its count.

    Without ``stored``, the item is not known: lists are created if absent, counts added to.
    With ``stored``, the item as the write's condition pins it (lists by length, counts by value):
    lists and counts are set from it, which also replaces a ``NULL`` another writer stored.
    """
    actions: List[Action] = []
    for state, tiles in batch.items():
        tile_list, tile_count = tile_lists(state)
        if stored is None:
            actions += [tile_list.set((tile_list | []).append(tiles)), tile_count.add(len(tiles))]
            continue
        before = recorded(stored, state)
        actions.append(tile_list.set(tile_list.append(tiles)) if before else tile_list.set(tiles))
        actions.append(tile_count.set(int(getattr(stored, tile_count.attr_name) or 0) + len(tiles)))
    return actions


def first_tiles(batch: Batch, most: int) -> Batch:
    """The first ``most`` tiles of ``batch``, by state in order."""
    taken: Batch = {}
    for state, tiles in batch.items():
        if most <= 0:
            break
        taken[state] = tiles[:most]
        most -= len(taken[state])
    return taken


def batch_size(batch: Batch) -> int:
    return sum(len(tiles) for tiles in batch.values())

