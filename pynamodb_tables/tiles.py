"""A region's tiles: its two lists (which tiles are new, the actions that append them), and writing
them: each new tile appended once to its state's list, its count moved with it.

:func:`write_tiles` makes one of three writes, each one ``UpdateItem`` whose condition makes a resend
after a lost answer (or a tile another worker recorded meanwhile) change nothing:

- up to :data:`MAX_TILES_PER_WRITE` tiles with no read: the condition checks each tile is new
  (``region_states.none_recorded``) and proves the item has room (``room.has_room_for``);
- any number of tiles decided on the item as stored (from a read, a refusal or the caller's copy):
  on condition that the region is still exactly that item (``region_states.unchanged``), so the
  room checked is the room written;
- where other writers keep appending (that condition refused :data:`EXACT_ATTEMPTS` times), a
  chunk of tiles checked new one by one, with the room proved from the lengths seen.
"""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from . import clock, validation
from .errors import RegionFullError
from .items import Batch, Box, RegionRequestItem, TileKey, TileState, recorded, tile_key, tile_lists
from .observing import Failed
from .region_states import EXACT_ATTEMPTS, none_recorded, unchanged
from .room import has_room_for, require_room, room_since, tile_bytes
from .store import Seen, Store, settle

#: Most tiles a write checks one by one in its condition (a ``contains`` and an ``OR`` each,
#: beside sixteen operators for the room: ``room.has_room_for``; DynamoDB allows 300 in an expression).
MAX_TILES_PER_WRITE = 140


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


#: Most tiles a write that checks each tile in its condition takes beside a room proof from a known state.
LOOSE_TILES_PER_WRITE = 100


def batch_of(tiles: Mapping[Any, Iterable[Any]]) -> Batch:
    """Tiles by state (``{TileState.SUCCEEDED: [...], ...}``, states in any accepted form), validated, each once."""
    batch: Batch = {}
    for state, state_tiles in tiles.items():
        batch.setdefault(validation.tile_state(state), []).extend(unique_tiles(state_tiles))
    return {state: each for state, each in batch.items() if each}


def write_tiles(store: Store[RegionRequestItem], key: Dict[str, str], batch: Batch, *,
           region: Optional[RegionRequestItem] = None) -> RegionRequestItem:
    """Append the tiles of ``batch`` the region lacks; returns the region as stored afterwards.

    ``region``: the item as last stored, if known and normalised (its lists let the write skip
    the per-tile checks; a stale one costs a refused write). Tiles that would break the size rule
    raise :class:`~pynamodb_tables.errors.RegionFullError` with nothing written.
    """
    if not batch:
        return region if region is not None else store.existing(key)

    def step(seen: Seen[RegionRequestItem]) -> RegionRequestItem:
        stored = seen.item
        if not seen.known and stored is None:
            room = has_room_for(RegionRequestItem, tile_bytes(batch)) if batch_size(batch) <= MAX_TILES_PER_WRITE \
                else None
            if room is not None:
                try:  # few tiles: one write, no read (a refusal carries the item: decided on it next)
                    return _append(store, key, batch, None, room & none_recorded(batch))
                except Failed as failure:
                    if not (failure.code == "ValidationException" and "data type" in failure.message):
                        raise
                    # A list or count another writer stored as NULL: appended to from the item as stored.
            seen = seen.read(store.existing(key))
        elif stored is None:
            raise store.unknown(key) from seen.cause
        assert seen.item is not None
        stored = seen.item
        new = new_tiles(stored, batch)
        if not new:
            # The caller's copy holds every tile: check that the table does.
            return stored if seen.known else step(seen.read(store.existing(key)))
        require_room(stored, key, extra=tile_bytes(new), error=RegionFullError)
        if seen.refusals < EXACT_ATTEMPTS:
            return _append(store, key, new, stored, unchanged(stored))
        while new:  # other writers keep appending: each tile checked new, a chunk at a time
            chunk = first_tiles(new, LOOSE_TILES_PER_WRITE)
            stored = _append(store, key, chunk, None, room_since(stored, tile_bytes(chunk)) & none_recorded(chunk))
            new = new_tiles(stored, new)
        return stored

    return settle(step, Seen(region), gave_up="tiles not recorded", key=key)


def _append(store: Store[RegionRequestItem], key: Dict[str, str], batch: Batch,
            stored: Optional[RegionRequestItem], condition: Condition) -> RegionRequestItem:
    actions = [*append_actions(batch, stored), RegionRequestItem.last_updated_time.set(clock.now_ms())]
    try:
        return store.update(key, actions, condition)
    except Failed as failure:
        if failure.code == "ValidationException" and "item size" in failure.message.lower():
            raise RegionFullError(f"its tile lists are full: {failure.message}", key=key) from failure.__cause__
        raise
