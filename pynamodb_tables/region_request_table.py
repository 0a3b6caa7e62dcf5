"""The region request table: one item per region of an image, with its tiles and outcome."""

import copy
import functools
import operator
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, cast

from botocore.exceptions import BotoCoreError
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import AttributeDeserializationError, PynamoDBException
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.operand import Value
from pynamodb.expressions.update import Action

from . import clock, validation
from .attributes import Box, BoxAttribute, ExpireTimeAttribute, IntPairAttribute, TileListAttribute
from .base_table import BoundTable, ConditionNotMet, describe_failure
from .errors import (
    CompleteRegionException,
    GetRegionRequestItemException,
    InvalidRegionRequestException,
    InvalidTileError,
    RegionAlreadyCompleteError,
    RegionFullError,
    StartRegionException,
    UpdateRegionException,
    table_operation,
)
from .items import SeedItem, attributes_from, copy_stored, set_actions, settable
from .sizing import ITEM_LIMIT, REGION_BUDGET, appended_size, item_size
from .status import NON_TERMINAL_VALUES, TERMINAL_VALUES, RequestStatus, TileState

REGION_REQUEST_TABLE_ENV = "REGION_REQUEST_TABLE"

#: Most tiles appended by a write that checks each tile in its condition (a ``contains``
#: and an ``OR`` each, beside a few for the rest; DynamoDB allows 300 operators in an
#: expression). Larger batches are appended after a read, in one write conditioned on the
#: list's length.
MAX_TILES_PER_WRITE = 140
#: Lists longer than this take the read path even for a few tiles, so that the item's size
#: is checked before it nears DynamoDB's limit (5000 tiles of ~30 bytes in each list).
SHORT_LIST = 5000
#: Conditional writes tried before giving up on an item that keeps changing underneath.
MAX_ATTEMPTS = 5


class RegionRequestItem(SeedItem):
    """A region of an image job. Times are epoch ms, ``expire_time`` epoch s, durations s."""

    seed_order = ("region_id", "image_id", "job_id", "start_time", "last_updated_time", "end_time", "expire_time",
                  "image_read_role", "processing_duration", "message", "region_status", "total_tiles",
                  "failed_tiles", "failed_tile_count", "succeeded_tiles", "succeeded_tile_count", "region_bounds",
                  "region_retry_count", "tile_compression", "tile_format", "tile_overlap", "tile_size")

    image_id = UnicodeAttribute(hash_key=True)
    region_id = UnicodeAttribute(range_key=True)
    job_id = UnicodeAttribute(null=True)
    start_time = NumberAttribute(null=True)
    last_updated_time = NumberAttribute(null=True)
    end_time = NumberAttribute(null=True)
    expire_time = ExpireTimeAttribute(null=True)
    image_read_role = UnicodeAttribute(null=True)
    processing_duration = NumberAttribute(null=True)
    message = UnicodeAttribute(null=True)
    region_status = UnicodeAttribute(null=True)
    total_tiles = NumberAttribute(null=True)
    failed_tiles = TileListAttribute(null=True)
    failed_tile_count = NumberAttribute(null=True)
    succeeded_tiles = TileListAttribute(null=True)
    succeeded_tile_count = NumberAttribute(null=True)
    region_bounds = BoxAttribute(null=True)
    region_retry_count = NumberAttribute(null=True)
    tile_compression = UnicodeAttribute(null=True)
    tile_format = UnicodeAttribute(null=True)
    tile_overlap = IntPairAttribute(null=True)
    tile_size = IntPairAttribute(null=True)

    @classmethod
    def from_region_request(cls, region_request: Any) -> "RegionRequestItem":
        """A region item from any object carrying the seed's attributes (tuples become lists)."""
        return cls(**attributes_from(cls, region_request))


#: Attributes only the table's own state changes write; items never overwrite them.
TILE_ATTRIBUTES = ("succeeded_tiles", "succeeded_tile_count", "failed_tiles", "failed_tile_count")
LIFECYCLE_ATTRIBUTES = ("region_status", "region_retry_count", "start_time", "end_time", "expire_time",
                        "processing_duration", "last_updated_time")


def region_values(item: Any) -> Dict[str, Any]:
    """The set attributes of a region item, normalised and checked (keys, bounds, tile size, status)."""
    error = InvalidRegionRequestException
    values = validation.item_values(item, RegionRequestItem, error)
    values["image_id"] = validation.require_key(item.image_id, "image_id", error)
    values["region_id"] = validation.require_key(item.region_id, "region_id", error,
                                                 max_bytes=validation.RANGE_KEY_MAX_BYTES)
    if "tile_size" in values:
        values["tile_size"] = validation.pair(values["tile_size"], "tile_size", minimum=1, error=error)
    if "region_status" in values:
        values["region_status"] = validation.status(values["region_status"], error).value
    return values


def check_region_item(item: Any) -> Tuple[str, str]:
    """Validate a region item; returns its ``(image_id, region_id)``."""
    values = region_values(item)
    return values["image_id"], values["region_id"]


def is_non_terminal() -> Condition:
    """The stored region has a status and it is not an outcome."""
    return RegionRequestItem.region_status.is_in(*sorted(NON_TERMINAL_VALUES))


def length(tile_list: TileListAttribute) -> Any:
    """The stored list's length, as an operand of a condition."""
    return size(tile_list)  # type: ignore[no-untyped-call]  # (PynamoDB leaves it unannotated)


def _empty(tile_list: TileListAttribute) -> Condition:
    return cast(Condition, tile_list.does_not_exist() | (length(tile_list) == 0))


def is_new_or_untouched() -> Condition:
    """No region yet, or one without an outcome and without any tile (queued, then picked up)."""
    item = RegionRequestItem
    untouched = ((item.region_status.does_not_exist() | is_non_terminal())
                 & _empty(item.succeeded_tiles) & _empty(item.failed_tiles))
    return cast(Condition, item.region_id.does_not_exist() | untouched)


def was_worked_on(stored: RegionRequestItem) -> bool:
    """Whether a start of ``stored`` is a retry: it has an outcome or any tile."""
    return stored.region_status in TERMINAL_VALUES or bool(stored.succeeded_tiles) or bool(stored.failed_tiles)


def same_attempt(stored: RegionRequestItem) -> Condition:
    """The region is still as ``stored`` saw it: same status, start and end, and not ``SUCCESS``."""
    item = RegionRequestItem
    status = item.region_status.does_not_exist() if stored.region_status is None \
        else item.region_status == stored.region_status
    return cast(Condition, item.region_id.exists() & status & (item.region_status != RequestStatus.SUCCESS.value)
                & _still(item.start_time, stored.start_time) & _still(item.end_time, stored.end_time))


def start_actions(values: Dict[str, Any], now: int, *, restart: bool) -> List[Action]:
    """What a start writes: the item's attributes, fresh times and status ``STARTED``.

    A restart counts a retry and clears the failed tiles; any start keeps the succeeded tiles.
    """
    item = RegionRequestItem
    fresh = dict(values, start_time=now, last_updated_time=now, expire_time=clock.expire_time(now),
                 region_status=RequestStatus.STARTED.value, processing_duration=0)
    if restart:
        fresh.update(failed_tiles=[], failed_tile_count=0)
    retry_count = (item.region_retry_count | 0) + 1 if restart else item.region_retry_count | 0
    actions = [*set_actions(item, fresh), item.region_retry_count.set(retry_count),
               item.succeeded_tiles.set(item.succeeded_tiles | []),
               item.succeeded_tile_count.set(item.succeeded_tile_count | 0)]
    if not restart:
        actions += [item.failed_tiles.set(item.failed_tiles | []),
                    item.failed_tile_count.set(item.failed_tile_count | 0)]
    return actions


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
    condition = (is_non_terminal() & _still(item.start_time, stored.start_time) & _still(item.end_time, stored.end_time)
                 & _same_length(item.succeeded_tiles, stored.succeeded_tiles)
                 & _same_length(item.failed_tiles, stored.failed_tiles))
    return values, condition


def _same_length(tile_list: TileListAttribute, stored: Optional[List[Box]]) -> Condition:
    """``tile_list`` holds as many tiles as ``stored`` (lists only grow within an attempt)."""
    if not stored:
        return _empty(tile_list)
    return cast(Condition, length(tile_list) == len(stored))


def with_values(stored: RegionRequestItem, values: Dict[str, Any]) -> RegionRequestItem:
    """A copy of ``stored`` with ``values`` set: the region a write of ``values`` left."""
    result = type(stored)(**copy.deepcopy(stored.attribute_values))
    for name, value in values.items():
        setattr(result, name, value)
    return result


def _still(attribute: NumberAttribute, value: Optional[float]) -> Condition:
    """``attribute`` still holds ``value`` (or is still absent)."""
    return attribute.does_not_exist() if value is None else attribute == value


def tile_lists(state: TileState) -> Tuple[TileListAttribute, NumberAttribute]:
    """The list and count attributes that record tiles of ``state``."""
    if state is TileState.SUCCEEDED:
        return RegionRequestItem.succeeded_tiles, RegionRequestItem.succeeded_tile_count
    return RegionRequestItem.failed_tiles, RegionRequestItem.failed_tile_count


def unique_tiles(tiles: Iterable[Any]) -> List[Box]:
    """Validated tiles in order, each once."""
    seen = set()
    result = []
    for each in tiles:
        box = validation.tile(each)
        marker = _tile_key(box)
        if marker not in seen:
            seen.add(marker)
            result.append(box)
    return result


def tiles_to_process(region_item: Optional[RegionRequestItem], tiles: Iterable[Any]) -> List[Box]:
    """The tiles of a region that still need processing: those not among its succeeded tiles.

    For a worker resuming a region (after ``start_region_request`` on a retry or redrive):
    tiles that failed before are processed again, tiles that succeeded are not. ``tiles`` is
    every tile of the region in processing order; the order is kept and each tile given once.
    """
    return _unrecorded(region_item.succeeded_tiles if region_item else None, unique_tiles(tiles))


def _unrecorded(recorded: Optional[List[Box]], tiles: List[Box]) -> List[Box]:
    """The tiles of ``tiles`` not in ``recorded``, in order."""
    seen = {_tile_key(tile) for tile in recorded or []}
    return [tile for tile in tiles if _tile_key(tile) not in seen]


def _tile_key(tile: Box) -> Tuple[Tuple[int, ...], ...]:
    return tuple(tuple(pair) for pair in tile)


class RegionRequestTable(BoundTable[RegionRequestItem]):
    """The region request table, named by ``table_name`` or ``REGION_REQUEST_TABLE``."""

    env_var = REGION_REQUEST_TABLE_ENV
    key_names = ("image_id", "region_id")
    missing = "unknown region: no region item"

    def __init__(self, table_name: Optional[str] = None, *, host: Optional[str] = None, region: Optional[str] = None):
        super().__init__(RegionRequestItem, table_name, host=host, region=region)

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
        given = region_values(region_request_item)
        key = self.key(given["image_id"], given["region_id"])
        values = settable(given, exclude=(*self.key_names, *TILE_ATTRIBUTES, *LIFECYCLE_ATTRIBUTES))
        stored = self._start(key, values, operation)
        copy_stored(region_request_item, stored)
        return stored

    def _start(self, key: Dict[str, str], values: Dict[str, Any], operation: str) -> RegionRequestItem:
        """New or untouched regions take one plain write, which is safe to apply again (it sets the
        same values, and only while no tile is recorded). Restarts are single-item transactions
        conditioned on the attempt they saw, so a retried restart is never applied twice."""
        for _ in range(MAX_ATTEMPTS):
            now = clock.now_ms()
            try:
                return self.write(key, start_actions(values, now, restart=False), is_new_or_untouched(),
                                  operation=operation, error=StartRegionException)
            except ConditionNotMet as refused:
                cause = refused.__cause__
            stored = self.read(key, operation=operation, error=StartRegionException)
            if stored is None:
                continue  # deleted in between: start it anew
            if stored.region_status == RequestStatus.SUCCESS.value:
                raise self.error(RegionAlreadyCompleteError, operation, key, "region already succeeded",
                                 item=stored) from cause
            if stored.start_time == now:
                return stored  # this start landed (its answer was lost) and tiles were recorded since
            if not was_worked_on(stored):
                continue  # changed back and forth in between: look again
            now = max(clock.now_ms(), int(stored.start_time or 0))  # start times never go back
            try:
                return self.transition(key, start_actions(values, now, restart=True), same_attempt(stored),
                                       operation=operation, error=StartRegionException)
            except ConditionNotMet:
                continue  # another start or a completion in between: look again
        raise self.error(StartRegionException, operation, key, "region kept changing while starting; gave up")

    @table_operation
    def complete_region_request(
        self, region_request_item: RegionRequestItem, region_status: RequestStatus
    ) -> RegionRequestItem:
        """Record the region's outcome: status, ``end_time``, ``last_updated_time``, duration.

        Only a running region can complete; a second completion changes nothing and raises
        :class:`RegionAlreadyCompleteError`. Tile lists and counts are never written.
        """
        operation = "complete_region_request"
        key = self.key(*check_region_item(region_request_item))
        outcome = terminal_status(region_status)
        for _ in range(MAX_ATTEMPTS):
            stored = self.running_region(key, operation)
            values, condition = completion(stored, outcome)
            try:
                completed = self.transition(key, set_actions(RegionRequestItem, values), condition, operation=operation,
                                            error=CompleteRegionException)
            except ConditionNotMet:
                continue  # changed since read: read again; a finished region ends the loop
            copy_stored(region_request_item, completed)
            return completed
        raise self.error(CompleteRegionException, operation, key, "region kept changing while completing")

    def running_region(self, key: Dict[str, str], operation: str) -> RegionRequestItem:
        """The stored region, which must exist and not have an outcome yet."""
        stored = self.existing(key, operation, CompleteRegionException)
        if stored.region_status in TERMINAL_VALUES:
            raise self.error(RegionAlreadyCompleteError, operation, key,
                             f"region already complete ({stored.region_status})", item=stored)
        if stored.region_status is None:
            raise self.error(CompleteRegionException, operation, key, "region was never started")
        return stored

    @table_operation
    def update_region_request(self, region_request_item: RegionRequestItem) -> RegionRequestItem:
        """Write the item's set attributes and ``last_updated_time``.

        Tile lists and counts, ``region_retry_count`` and ``end_time`` are never written
        from the item. ``region_status`` may only be set to a running status, and only
        while the stored region is running: a stale copy cannot reopen a finished region.
        """
        operation = "update_region_request"
        given = region_values(region_request_item)
        key = self.key(given["image_id"], given["region_id"])
        values = settable(given, exclude=(*self.key_names, *TILE_ATTRIBUTES, "region_retry_count", "end_time"))
        values["last_updated_time"] = clock.now_ms()
        condition = RegionRequestItem.region_id.exists()
        if "region_status" in values:
            status = validation.status(values["region_status"], InvalidRegionRequestException)
            if status.is_terminal:
                raise self.error(InvalidRegionRequestException, operation, key,
                                 f"region_status {status.value} is an outcome: use complete_region_request")
            values["region_status"] = status.value
            condition &= is_non_terminal()
        try:
            updated = self.write(key, set_actions(RegionRequestItem, values), condition, operation=operation,
                                 error=UpdateRegionException)
        except ConditionNotMet as refused:
            stored = self.existing(key, operation, UpdateRegionException, refused.__cause__)
            raise self.error(UpdateRegionException, operation, key,
                             f"region already complete ({stored.region_status}); status not changed",
                             item=stored) from refused.__cause__
        copy_stored(region_request_item, updated)
        return updated

    @table_operation
    def get_region_request(self, region_id: str, image_id: str) -> Optional[RegionRequestItem]:
        """The stored region (strongly consistent), or ``None``."""
        key = self.key(validation.require_key(image_id, "image_id"), validation.require_key(region_id, "region_id"))
        return self.read(key, operation="get_region_request", error=GetRegionRequestItemException)

    @table_operation
    def add_tile(
        self, image_id: str, region_id: str, tile: Sequence[Sequence[int]], state: TileState
    ) -> RegionRequestItem:
        """Record one tile's outcome in one write; a tile already recorded changes nothing."""
        return self._add(image_id, region_id, [tile], state, operation="add_tile")

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
        return self._add(image_id, region_id, list(tiles), state, operation="add_tiles")

    def _add(self, image_id: str, region_id: str, tiles: List[Any], state: Any, *, operation: str) -> RegionRequestItem:
        key = self.key(validation.require_key(image_id, "image_id"), validation.require_key(region_id, "region_id"))
        tile_state = validation.tile_state(state)
        pending = unique_tiles(tiles)
        stored: Optional[RegionRequestItem] = None
        if 0 < len(pending) <= MAX_TILES_PER_WRITE:
            # Few tiles: one write whose condition checks each tile is not recorded yet; no read.
            try:
                return self._append_unrecorded(key, pending, tile_state, operation)
            except ConditionNotMet as refused:
                stored = self.existing(key, operation, UpdateRegionException, refused.__cause__)
        for _ in range(MAX_ATTEMPTS):
            # Many tiles, or some already recorded: read what is there, append the rest in one
            # write on condition that the list has not changed since.
            if stored is None:
                stored = self.existing(key, operation, UpdateRegionException)
            new = _unrecorded(getattr(stored, tile_lists(tile_state)[0].attr_name), pending)
            if not new:
                return stored
            self._check_room(key, stored, new, operation)
            try:
                return self._append_after(key, new, tile_state, stored, operation)
            except ConditionNotMet:
                stored = None
        raise self.error(UpdateRegionException, operation, key, "tiles kept changing while recording")

    def _check_room(self, key: Dict[str, str], stored: RegionRequestItem, tiles: List[Box], operation: str) -> None:
        """Raise :class:`RegionFullError` if appending ``tiles`` would overfill the item."""
        size = item_size(stored.serialize()) + appended_size(TileListAttribute().serialize(tiles))
        if size > REGION_BUDGET:
            raise self.error(RegionFullError, operation, key,
                             f"region item would grow to {size} bytes with {len(tiles)} more tiles; "
                             f"its tile lists are full (DynamoDB items are limited to {ITEM_LIMIT} bytes)",
                             item=stored)

    def _tile_actions(self, tiles: List[Box], state: TileState) -> List[Action]:
        tile_list, tile_count = tile_lists(state)
        return [
            tile_list.set((tile_list | []).append(tiles)),
            tile_count.add(len(tiles)),
            RegionRequestItem.last_updated_time.set(clock.now_ms()),
        ]

    def _append_unrecorded(
        self, key: Dict[str, str], tiles: List[Box], state: TileState, operation: str
    ) -> RegionRequestItem:
        """Append ``tiles`` and count them, on condition that none is recorded yet.

        Only while both lists are short: a long region goes through the read, which checks
        the item's size before writing.
        """
        tile_list = tile_lists(state)[0]
        recorded = functools.reduce(
            operator.or_, (tile_list.contains(Value(each, attribute=BoxAttribute())) for each in tiles))
        short = functools.reduce(operator.and_, (
            each.does_not_exist() | (length(each) < SHORT_LIST)
            for each in (RegionRequestItem.succeeded_tiles, RegionRequestItem.failed_tiles)))
        condition = RegionRequestItem.region_id.exists() & short & ~recorded
        return self._write_tiles(key, self._tile_actions(tiles, state), condition, operation)

    def _append_after(
        self, key: Dict[str, str], tiles: List[Box], state: TileState, stored: RegionRequestItem, operation: str
    ) -> RegionRequestItem:
        """Append ``tiles`` and count them, on condition that the list is as ``stored`` had it.

        The same length in the same attempt (``start_time``): a restart that cleared and refilled
        the list in between cannot pass for it.
        """
        tile_list = tile_lists(state)[0]
        unchanged = _same_length(tile_list, getattr(stored, tile_list.attr_name))
        condition = (RegionRequestItem.region_id.exists() & unchanged
                     & _still(RegionRequestItem.start_time, stored.start_time))
        return self._write_tiles(key, self._tile_actions(tiles, state), condition, operation)

    def _write_tiles(
        self, key: Dict[str, str], actions: List[Action], condition: Condition, operation: str
    ) -> RegionRequestItem:
        try:
            return self.write(key, actions, condition, operation=operation, error=UpdateRegionException)
        except UpdateRegionException as exc:
            cause = exc.__cause__
            if isinstance(cause, PynamoDBException) and cause.cause_response_code == "ValidationException" \
                    and "size" in (cause.cause_response_message or ""):
                raise self.error(RegionFullError, operation, key,
                                 f"its tile lists are full: {describe_failure(cause)}") from cause
            raise

    @table_operation
    def list_regions(self, image_id: str) -> List[RegionRequestItem]:
        """Every region of the image, all pages, strongly consistent."""
        key = self.key(validation.require_key(image_id, "image_id"))
        try:
            return list(self.model.query(image_id, consistent_read=True))
        except AttributeDeserializationError as exc:
            raise self.error(GetRegionRequestItemException, "list_regions", key,
                             f"a stored region cannot be read: {exc}") from exc
        except (PynamoDBException, BotoCoreError) as exc:
            raise self.error(GetRegionRequestItemException, "list_regions", key, describe_failure(exc)) from exc


def terminal_status(region_status: Any) -> RequestStatus:
    """``region_status`` as an outcome (``SUCCESS``, ``PARTIAL`` or ``FAILED``)."""
    status = validation.status(region_status, InvalidRegionRequestException)
    if not status.is_terminal:
        raise InvalidRegionRequestException(
            f"region_status {status.value} is not an outcome; expected SUCCESS, PARTIAL or FAILED")
    return status
