"""The region request table: one item per region of an image, with its tiles and outcome.

Its state changes are written as conditions in ``region_states.py``; its tile lists in
``tiles.py``; the item's size rules in ``sizing.py``.
"""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Type, cast

from pynamodb.expressions.condition import Condition

from . import clock, validation
from .base_table import BoundTable, ConditionNotMet, Write, transact
from .errors import (
    CompleteRegionException,
    GetRegionRequestItemException,
    InvalidRegionRequestException,
    InvalidTileError,
    PynamoDBTablesError,
    RegionAlreadyCompleteError,
    RegionFullError,
    StartRegionException,
    UpdateRegionException,
    table_operation,
)
from .items import copy_stored, set_actions, settable, still, with_values
from .models import RegionRequestItem
from .region_states import (
    LIFECYCLE_ATTRIBUTES,
    TILE_ATTRIBUTES,
    completion,
    is_running,
    is_this_new_start,
    start,
    terminal_status,
)
from .retry import CONTENTION_ATTEMPTS, backoff
from .room import has_room_for, room_problem, tile_bytes, values_size
from .status import TERMINAL_VALUES, RequestStatus, TileState
from .tiles import (
    MAX_TILES_PER_WRITE,
    Batch,
    append_actions,
    batch_size,
    lists_as_in,
    new_tiles,
    none_recorded,
    tiles_to_process,
    unique_tiles,
)

__all__ = ["REGION_REQUEST_TABLE_ENV", "RegionRequestItem", "RegionRequestTable", "tiles_to_process"]

REGION_REQUEST_TABLE_ENV = "REGION_REQUEST_TABLE"


class RegionRequestTable(BoundTable[RegionRequestItem]):
    """The region request table, named by ``table_name`` or ``REGION_REQUEST_TABLE``.

    Keywords: ``host``, ``region`` and PynamoDB's connection settings (``connect_timeout_seconds``,
    ``read_timeout_seconds``, ``max_retry_attempts``, ``max_pool_connections``).
    """

    env_var = REGION_REQUEST_TABLE_ENV
    key_names = ("image_id", "region_id")
    missing = "unknown region: no region item"

    def __init__(self, table_name: Optional[str] = None, *, host: Optional[str] = None,
                 region: Optional[str] = None, **connection_settings: Any) -> None:
        super().__init__(RegionRequestItem, table_name, host=host, region=region, **connection_settings)

    # -- starting ------------------------------------------------------------------------------

    @table_operation
    def start_region_request(self, region_request_item: RegionRequestItem) -> RegionRequestItem:
        """Start a region, or restart one that has not succeeded.

        A new region starts with status ``STARTED``, retry count 0 and no tiles. A region with
        an outcome or any tile (a retry or redrive) is restarted: retry count up by one, status
        ``STARTED``, succeeded tiles and count kept, failed tiles cleared. A region only queued
        and then picked up (no outcome, no tile) starts again without counting a retry. A
        ``SUCCESS`` region is left as it is: :class:`RegionAlreadyCompleteError` with ``.item``.
        """
        operation = "start_region_request"
        given = validation.region_values(region_request_item)
        key = self.key(given["image_id"], given["region_id"])
        values = settable(given, exclude=(*self.key_names, *TILE_ATTRIBUTES, *LIFECYCLE_ATTRIBUTES))
        self.check_room(key, RegionRequestItem(**given), operation, error=InvalidRegionRequestException)
        # A region read back from the table (the model runner's workers pass one) is the state to start from.
        copy = region_request_item if region_request_item.start_time is not None else None
        stored = self._start(key, values, operation, copy)
        copy_stored(region_request_item, stored)
        return stored

    def _start(self, key: Dict[str, str], values: Dict[str, Any], operation: str,
               stored: Optional[RegionRequestItem]) -> RegionRequestItem:
        """One transaction with a client request token, conditioned on the state the start was decided
        on (``stored``: the caller's copy if it is one, then what each refusal returns)."""
        cause: Optional[BaseException] = None
        for attempt in range(CONTENTION_ATTEMPTS):
            if stored is not None and stored.region_status == RequestStatus.SUCCESS.value:
                raise self.error(RegionAlreadyCompleteError, operation, key, "region already succeeded",
                                 item=with_values(stored, {})) from cause
            # A new attempt's start time is later than the last one's, whatever this worker's clock says.
            now = max(clock.now_ms(), int(stored.start_time or 0) + 1) if stored is not None else clock.now_ms()
            sets, condition = start(stored, values, now)
            result = with_values(stored if stored is not None else self.instance(key), sets)
            self.check_room(key, result, operation, before=stored, error=StartRegionException)
            try:
                if stored is None:
                    # A new region: one plain write (half the units of a transaction). Sent again after a
                    # lost answer, it is refused by its own landed copy, recognised below.
                    return self.update(key, set_actions(RegionRequestItem, sets), condition,
                                       operation=operation, error=StartRegionException)
                transact([Write(self, key, set_actions(RegionRequestItem, sets), condition)],
                         operation=operation, error=StartRegionException)
            except ConditionNotMet as refused:
                if stored is None and refused.after_unknown and is_this_new_start(refused.stored, now):
                    return cast(RegionRequestItem, refused.stored)
                stored, cause = refused.stored, refused.__cause__
                if attempt:
                    backoff(attempt - 1)
                continue
            return result
        raise self.error(StartRegionException, operation, key, "region kept changing while starting; gave up")

    # -- completing ----------------------------------------------------------------------------

    @table_operation
    def complete_region_request(
        self, region_request_item: RegionRequestItem, region_status: RequestStatus
    ) -> RegionRequestItem:
        """Record the region's outcome: status, ``end_time``, ``last_updated_time``, duration.

        Only a running region can complete; a second completion changes nothing and raises
        :class:`RegionAlreadyCompleteError`. Tile lists and counts are never written.
        """
        operation = "complete_region_request"
        key = self.key(*validation.region_key(region_request_item))
        outcome = terminal_status(region_status)
        stored = self.read(key, operation=operation, error=CompleteRegionException)
        for attempt in range(CONTENTION_ATTEMPTS):
            running = self.running(key, stored, operation, CompleteRegionException)
            values, condition = completion(running, outcome)
            try:  # a transaction, for its token: a resend of a completion that landed is not refused
                transact([Write(self, key, set_actions(RegionRequestItem, values), condition)],
                         operation=operation, error=CompleteRegionException)
            except ConditionNotMet as refused:
                stored = refused.stored  # changed since: a finished region ends the loop
                backoff(attempt)
                continue
            completed = with_values(running, values)
            copy_stored(region_request_item, completed)
            return completed
        raise self.error(CompleteRegionException, operation, key, "region kept changing while completing")

    def running(self, key: Mapping[str, str], stored: Optional[RegionRequestItem], operation: str,
                error: Type[PynamoDBTablesError]) -> RegionRequestItem:
        """``stored``, which must exist and be running (else the operation's error)."""
        if stored is None:
            raise self.error(error, operation, key, self.missing)
        if stored.region_status in TERMINAL_VALUES:
            raise self.error(RegionAlreadyCompleteError, operation, key,
                             f"region already complete ({stored.region_status})", item=stored)
        if stored.region_status is None:
            raise self.error(error, operation, key, "region was never started")
        return stored

    # -- updating ------------------------------------------------------------------------------

    @table_operation
    def update_region_request(self, region_request_item: RegionRequestItem) -> RegionRequestItem:
        """Write the item's set attributes and ``last_updated_time``.

        Tile lists and counts, ``region_retry_count`` and ``end_time`` are never written
        from the item. ``region_status`` may only be set to a running status, and only
        while the stored region is running: a stale copy cannot reopen a finished region.
        """
        operation = "update_region_request"
        given = validation.region_values(region_request_item)
        key = self.key(given["image_id"], given["region_id"])
        values = settable(given, exclude=(*self.key_names, *TILE_ATTRIBUTES, "region_retry_count", "end_time"))
        values["last_updated_time"] = clock.now_ms()
        condition = RegionRequestItem.region_id.exists()
        if "region_status" in values:  # (already a valid status's name)
            if values["region_status"] in TERMINAL_VALUES:
                raise self.error(InvalidRegionRequestException, operation, key,
                                 f"region_status {values['region_status']} is an outcome: use complete_region_request")
            condition &= is_running()
        written = values_size(values)
        try:  # with room for the values whatever the item holds, or ...
            updated = self.update(key, set_actions(RegionRequestItem, values),
                                  condition & has_room_for(written, rewritten=values),
                                  operation=operation, error=UpdateRegionException)
        except ConditionNotMet as refused:
            updated = self._update_refused(key, values, condition, refused, operation)
        copy_stored(region_request_item, updated)
        return updated

    def _update_refused(self, key: Dict[str, str], values: Dict[str, Any], condition: Condition,
                        refused: ConditionNotMet, operation: str) -> RegionRequestItem:
        stored, cause = refused.stored, refused.__cause__
        for attempt in range(CONTENTION_ATTEMPTS):
            if stored is None:
                raise self.error(UpdateRegionException, operation, key, self.missing) from cause
            if "region_status" in values and stored.region_status in TERMINAL_VALUES:
                raise self.error(UpdateRegionException, operation, key,
                                 f"region already complete ({stored.region_status}); status not changed",
                                 item=stored) from cause
            # ... with room checked on the item as stored, whose tile lists must not grow meanwhile.
            self.check_room(key, with_values(stored, values), operation, before=stored, error=UpdateRegionException)
            try:
                return self.update(key, set_actions(RegionRequestItem, values), condition & lists_as_in(stored),
                                   operation=operation, error=UpdateRegionException)
            except ConditionNotMet as again:
                stored, cause = again.stored, again.__cause__
                backoff(attempt)
        raise self.error(UpdateRegionException, operation, key, "region kept changing while updating")

    @table_operation
    def get_region_request(self, region_id: str, image_id: str) -> Optional[RegionRequestItem]:
        """The stored region (strongly consistent), or ``None``."""
        key = self.key(validation.require_key(image_id, "image_id"), validation.require_key(region_id, "region_id"))
        return self.read(key, operation="get_region_request", error=GetRegionRequestItemException)

    @table_operation
    def list_regions(self, image_id: str) -> List[RegionRequestItem]:
        """Every region of the image, all pages, strongly consistent."""
        key = self.key(validation.require_key(image_id, "image_id"))
        return self.query(key, operation="list_regions", error=GetRegionRequestItemException)

    # -- recording tiles -----------------------------------------------------------------------

    @table_operation
    def add_tile(
        self, image_id: str, region_id: str, tile: Sequence[Sequence[int]], state: TileState
    ) -> RegionRequestItem:
        """Record one tile's outcome in one write; a tile already recorded changes nothing."""
        return self.record_tiles(image_id, region_id, {state: [tile]}, operation="add_tile")

    @table_operation
    def add_tiles(
        self, image_id: str, region_id: str, tiles: Iterable[Sequence[Sequence[int]]], state: TileState
    ) -> RegionRequestItem:
        """Record many tiles' outcomes in as few writes as possible; recorded tiles are skipped.

        Up to 140 new tiles take one write and no read; more take one read and one write.
        :class:`RegionFullError` (nothing written) when the item would outgrow DynamoDB's limit.
        """
        if isinstance(tiles, (str, bytes)) or not isinstance(tiles, Iterable):
            raise InvalidTileError(f"tiles must be a list of tiles, got {tiles!r}", operation="add_tiles")
        return self.record_tiles(image_id, region_id, {state: list(tiles)}, operation="add_tiles")

    def record_tiles(self, image_id: str, region_id: str, tiles: Mapping[Any, Iterable[Any]], *,
                     region: Optional[RegionRequestItem] = None, operation: str = "record_tiles") -> RegionRequestItem:
        """Record tiles of both states (``{TileState.SUCCEEDED: [...], TileState.FAILED: [...]}``) in one
        write where the item allows; tiles already recorded are skipped. ``region``: the item as
        last stored, if known (its lists let the write skip the per-tile checks)."""
        key = self.key(validation.require_key(image_id, "image_id"), validation.require_key(region_id, "region_id"))
        batch: Batch = {}
        for state, state_tiles in tiles.items():
            batch.setdefault(validation.tile_state(state), []).extend(unique_tiles(state_tiles))
        batch = {state: each for state, each in batch.items() if each}
        if not batch:
            return region if region is not None else self.existing(key, operation, UpdateRegionException)
        stored = region
        seen = False  # whether ``stored`` came from DynamoDB in this call (a hint from the caller may be stale)
        if stored is None and batch_size(batch) <= MAX_TILES_PER_WRITE:
            # Few tiles: one write, no read; its condition checks each tile is new and the item has room.
            try:
                return self._append(key, batch, has_room_for(tile_bytes(batch)) & none_recorded(batch), operation)
            except ConditionNotMet as refused:
                stored, seen = refused.stored, True
                if stored is None:
                    raise self.error(UpdateRegionException, operation, key, self.missing) from refused.__cause__
        for attempt in range(CONTENTION_ATTEMPTS):
            # The item as stored is known: append what it lacks, on condition that its lists are still
            # as seen in the same attempt (so the size checked is the size written, and a resend of
            # this write after a lost answer is refused and recognised: nothing left to append).
            if stored is None:
                stored, seen = self.existing(key, operation, UpdateRegionException), True
            new = new_tiles(stored, batch)
            if not new and not seen:
                stored = None  # the caller's copy holds every tile: check that the table does
                continue
            if not new:
                return stored
            self.check_room(key, stored, operation, extra=tile_bytes(new))  # tiles: always within the budget
            condition = (RegionRequestItem.region_id.exists() & lists_as_in(stored)
                         & still(RegionRequestItem.start_time, stored.start_time))
            try:
                return self._append(key, new, condition, operation)
            except ConditionNotMet as refused:
                stored, seen = refused.stored, True
                if stored is None:
                    raise self.error(UpdateRegionException, operation, key, self.missing) from refused.__cause__
                backoff(attempt)
        raise self.error(UpdateRegionException, operation, key, "tiles kept changing while recording; gave up")

    def _append(self, key: Dict[str, str], batch: Batch, condition: Condition, operation: str) -> RegionRequestItem:
        actions = [*append_actions(batch), RegionRequestItem.last_updated_time.set(clock.now_ms())]
        try:
            return self.update(key, actions, condition,
                               operation=operation, error=UpdateRegionException)
        except UpdateRegionException as exc:
            if exc.code == "ValidationException" and "item size" in exc.message.lower():
                raise self.error(RegionFullError, operation, key, f"its tile lists are full: {exc.message}") \
                    from exc.__cause__
            raise

    def check_room(self, key: Mapping[str, str], after: RegionRequestItem, operation: str, *,
                   before: Optional[RegionRequestItem] = None, extra: int = 0,
                   error: Type[PynamoDBTablesError] = RegionFullError) -> None:
        """Raise ``error`` (:class:`RegionFullError`) if writing ``after`` (plus ``extra`` bytes) over
        ``before`` would take the room a region keeps to complete (``room.room_problem``)."""
        problem = room_problem(after, before=before, extra=extra)
        if problem is not None:
            what = "its tile lists are full" if error is RegionFullError else "no room for these values"
            raise self.error(error, operation, key, f"{what}: {problem}", item=with_values(after, {}))
