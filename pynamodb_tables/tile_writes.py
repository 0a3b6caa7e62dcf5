"""Writing tiles to a region: each new tile appended once to its state's list, its count moved with it.

Three writes, each one ``UpdateItem`` whose condition makes a resend after a lost answer (or a
tile another worker recorded meanwhile) change nothing:

- up to :data:`~pynamodb_tables.tiles.MAX_TILES_PER_WRITE` tiles with no read: the condition
  checks each tile is new and proves the item has room (``room.has_room_for``);
- any number of tiles decided on the item as stored (from a read, a refusal or the caller's copy):
  on condition that the region is still exactly that item (``region_states.unchanged``), so the
  room checked is the room written;
- where other writers keep appending (that condition refused :data:`EXACT_ATTEMPTS` times), a
  chunk of tiles checked new one by one, with the room proved from the lengths seen.
"""

from typing import Any, Dict, Iterable, Mapping, Optional

from pynamodb.expressions.condition import Condition

from . import clock, validation
from .errors import RegionFullError
from .failures import Failed
from .items import RegionRequestItem
from .region_states import EXACT_ATTEMPTS, unchanged
from .room import has_room_for, require_room, room_since, tile_bytes
from .store import Seen, Store, settle
from .tiles import (
    MAX_TILES_PER_WRITE,
    Batch,
    append_actions,
    batch_size,
    first_tiles,
    new_tiles,
    none_recorded,
    unique_tiles,
)

#: Most tiles a write that checks each tile in its condition takes beside a room proof from a known state.
LOOSE_TILES_PER_WRITE = 100


def batch_of(tiles: Mapping[Any, Iterable[Any]]) -> Batch:
    """Tiles by state (``{TileState.SUCCEEDED: [...], ...}``, states in any accepted form), validated, each once."""
    batch: Batch = {}
    for state, state_tiles in tiles.items():
        batch.setdefault(validation.tile_state(state), []).extend(unique_tiles(state_tiles))
    return {state: each for state, each in batch.items() if each}


def record(store: Store[RegionRequestItem], key: Dict[str, str], batch: Batch, *,
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
