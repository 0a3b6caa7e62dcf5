"""The region request table: one item per region of an image, with its tiles and outcome.

Its state changes are written as conditions in ``region_states.py``; its tile lists in
``tiles.py``; the item's size rule in ``room.py``.
"""

import logging
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type, cast

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from . import clock, validation
from .base_table import BoundTable, ConditionNotMet, TransactionRefused, Write, transact
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
    located,
    table_operation,
)
from .items import copy_stored, set_actions, settable, with_values
from .models import JobItem, RegionRequestItem
from .observing import observed
from .region_states import (
    LIFECYCLE_ATTRIBUTES,
    ONLY_STATE_CHANGES_WRITE,
    TILE_ATTRIBUTES,
    completion,
    is_running,
    is_this_new_start,
    same_decision,
    start,
    terminal_status,
    unchanged,
)
from .retry import CONTENTION_ATTEMPTS, backoff
from .room import has_room_for, room_problem, room_since, sizes_as_in, tile_bytes, values_size
from .status import NON_TERMINAL_VALUES, TERMINAL_VALUES, RequestStatus, TileState
from .tile_buffer import buffer_of, flush_seconds
from .tiles import (
    MAX_TILES_PER_WRITE,
    Batch,
    append_actions,
    batch_size,
    first_tiles,
    new_tiles,
    none_recorded,
    recorded,
    tile_lists,
    tiles_to_process,
    unique_tiles,
)

if TYPE_CHECKING:
    from .job_table import JobTable

logger = logging.getLogger("pynamodb_tables")

__all__ = ["REGION_REQUEST_TABLE_ENV", "RegionRequestItem", "RegionRequestTable", "tiles_to_process"]

REGION_REQUEST_TABLE_ENV = "REGION_REQUEST_TABLE"


class RegionRequestTable(BoundTable[RegionRequestItem]):
    """The region request table, named by ``table_name`` or ``REGION_REQUEST_TABLE``.

    Keywords: ``host``, ``region``, PynamoDB's connection settings (``connect_timeout_seconds``,
    ``read_timeout_seconds``, ``max_retry_attempts``, ``max_pool_connections``), and
    ``tile_flush_seconds`` (default: ``DDB_TILE_FLUSH_SECONDS``, else 0): above 0, ``add_tile``
    buffers tiles in the process and writes them a few writes at a time (``tile_buffer.py``).
    """

    env_var = REGION_REQUEST_TABLE_ENV
    key_names = ("image_id", "region_id")
    missing = "unknown region: no region item"

    def __init__(self, table_name: Optional[str] = None, *, host: Optional[str] = None,
                 region: Optional[str] = None, tile_flush_seconds: Optional[float] = None,
                 **connection_settings: Any) -> None:
        super().__init__(RegionRequestItem, table_name, host=host, region=region, **connection_settings)
        #: Seconds a tile ``add_tile`` takes may wait in this process's buffer (0: written at once).
        self.tile_flush_seconds = flush_seconds(tile_flush_seconds)
        self._buffer = buffer_of(self.table_name, host, region)

    # -- the buffer ------------------------------------------------------------------------------

    @table_operation
    def flush(self) -> None:
        """Write every tile buffered for this table in this process (by any of its table objects)."""
        self._buffer.flush_all(self)

    def _before(self, key: Mapping[str, str]) -> None:
        """Write the region's buffered tiles before a call that reads or writes it."""
        self._buffer.flush_region(self, (key["image_id"], key["region_id"]))

    def _saw(self, item: Optional[RegionRequestItem], key: Optional[Mapping[str, str]] = None) -> None:
        """Remember the region as stored (``None`` with its key: there is none)."""
        if item is not None:
            self._buffer.seen(item)
        elif key is not None:
            self._buffer.forget((key["image_id"], key["region_id"]))

    def _write_buffered(self, key: Tuple[str, str], batch: Batch,
                        stored: Optional[RegionRequestItem]) -> RegionRequestItem:
        """Write tiles the buffer held (its flush: no flush before, it is one). An observed operation of its
        own, ``flush`` (the timer's, at exit), unless a call of the package made it (then counted in that call)."""
        with observed("flush", self.table_name, dict(zip(self.key_names, key))), located("flush", self.table_name):
            return self._record(self.key(*key), batch, region=stored, operation="flush")

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
        values = own_values(given)
        self.check_room(key, RegionRequestItem(**{**key, **values}), operation, error=InvalidRegionRequestException)
        # A region read back from the table (the model runner's workers pass one) is the state to start from.
        copy = RegionRequestItem(**given) if given.get("start_time") is not None else None
        self._before(key)
        stored = self._start(key, values, operation, copy)
        self._saw(stored)
        copy_stored(region_request_item, stored)
        return stored

    def _start(self, key: Dict[str, str], values: Dict[str, Any], operation: str,
               stored: Optional[RegionRequestItem]) -> RegionRequestItem:
        """One transaction with a client request token, conditioned on the state the start was decided
        on (``stored``: the caller's copy if it is one, then what each refusal returns)."""
        cause: Optional[BaseException] = None
        moved_on = 0  # refusals by writes to the same attempt (see ``finish``)
        for attempt in range(CONTENTION_ATTEMPTS):
            if stored is not None and stored.region_status == RequestStatus.SUCCESS.value:
                raise self.error(RegionAlreadyCompleteError, operation, key, "region already succeeded",
                                 item=with_values(stored, {})) from cause
            # A new attempt's start time is later than the last one's, whatever this worker's clock says.
            now = max(clock.now_ms(), int(stored.start_time or 0) + 1) if stored is not None else clock.now_ms()
            exact = moved_on < EXACT_ATTEMPTS
            sets, condition = start(stored, values, now, exact=exact)
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
                if stored is not None and refused.stored is not None and same_decision(stored, refused.stored):
                    moved_on += 1
                stored, cause = refused.stored, refused.__cause__
                if attempt:
                    backoff(attempt - 1)
                continue
            return result if exact else self.existing(key, operation, StartRegionException)
        raise self.error(StartRegionException, operation, key, "region kept changing while starting; gave up")

    # -- completing ----------------------------------------------------------------------------

    @table_operation
    def complete_region_request(
        self, region_request_item: RegionRequestItem, region_status: RequestStatus
    ) -> RegionRequestItem:
        """Record the region's outcome: status, ``end_time``, ``last_updated_time``, duration, and the
        item's own attributes (``message``...) where the region has room for them.

        Only a running region can complete; a second completion changes nothing and raises
        :class:`RegionAlreadyCompleteError`. Tile lists and counts are never written.
        """
        given = validation.region_values(region_request_item)
        key = self.key(given["image_id"], given["region_id"])
        outcome = terminal_status(region_status)
        completed, _ = self.finish(None, key, outcome, values=own_values(given), operation="complete_region_request")
        copy_stored(region_request_item, completed)
        return completed

    def finish(self, job_table: Optional["JobTable"], key: Dict[str, str], outcome: RequestStatus, *,
               region: Optional[RegionRequestItem] = None, values: Optional[Mapping[str, Any]] = None,
               tiles: Optional[Batch] = None, operation: str,
               as_read: bool = False) -> Tuple[RegionRequestItem, Optional[JobItem]]:
        """Move the region to ``outcome`` with ``values`` (the caller's own attributes, where they fit),
        append ``tiles`` it lacks and, with ``job_table``, count it in its job: one transaction.

        ``region``: the region as the table last returned it, normalised (a running copy saves the
        read; the transaction holds only while it is still what is stored). Returns the region and
        the job as stored afterwards. Without a job, a region that already has an outcome is
        :class:`RegionAlreadyCompleteError`; with one, it is not counted again and tiles it lacks
        are still recorded (a late tile is recorded in any state).

        A region another worker keeps writing to (a duplicate delivery adding tiles) refuses an
        exact completion again and again; after :data:`EXACT_ATTEMPTS` such refusals the
        completion holds only while the region runs the same attempt, and the region is read back.

        ``as_read``: complete ``region`` (a running copy) only as it was read: if it changed since,
        nothing is written and :class:`~pynamodb_tables.base_table.TransactionRefused` is raised
        (``stored_items[0]``: the region as stored) instead of deciding again on the new state.
        """
        error = CompleteRegionException
        self._before(key)
        stored = region if is_running_copy(region) else None
        batch: Batch = {state: list(each) for state, each in (tiles or {}).items() if each}
        own = dict(values or {})
        moved_on = 0  # refusals by writes to the same running attempt
        for attempt in range(CONTENTION_ATTEMPTS):
            if stored is None:
                stored = self.existing(key, operation, error)
            if stored.region_status in TERMINAL_VALUES:
                if job_table is None:
                    raise self.error(RegionAlreadyCompleteError, operation, key,
                                     f"region already complete ({stored.region_status})", item=stored)
                logger.debug("%s %s: already %s, nothing to count", operation, key, stored.region_status)
                if new_tiles(stored, batch):
                    stored = self._record(key, batch, region=stored, operation=operation)
                self._saw(stored)
                return stored, job_table.existing(job_table.key(key["image_id"]), operation, error)
            if stored.region_status is None:
                raise self.error(error, operation, key, "region was never started")
            exact = moved_on < EXACT_ATTEMPTS
            new = new_tiles(stored, batch)
            if new and (not exact or room_problem(stored, extra=tile_bytes(new))):
                # Tiles in a write of their own: where they would take the room the region keeps (it
                # raises RegionFullError with nothing written: the outcome can still be recorded without
                # them), or where the completion cannot pin the lists they are appended to.
                stored = self._record(key, new, region=stored, operation=operation)
                continue
            if own and room_problem(with_values(stored, own), before=stored):
                logger.warning("%s %s: no room for the item's attributes %s; the outcome is recorded without them",
                               operation, key, ", ".join(sorted(own)))
                own = {}
            sets, condition = completion(stored, outcome, own if exact else {}, clock.now_ms(), exact=exact)
            writes = [Write(self, key, [*set_actions(RegionRequestItem, sets), *append_actions(new, stored)],
                            condition)]
            if job_table is not None:
                writes.append(counting(job_table, job_table.key(key["image_id"]), outcome,
                                       counted_before=stored.end_time is not None))
            try:
                transact(writes, operation=operation, error=error, settings_from=self)
            except TransactionRefused as refused:
                if job_table is not None and refused.refused[1] and \
                        (refused.stored_items[1] is None or not refused.refused[0]):
                    raise job_refusal(job_table, job_table.key(key["image_id"]), refused.stored_items[1],
                                      operation) from refused.__cause__
                if as_read:
                    raise
                logger.debug("%s %s: refused (the region changed), attempt %d", operation, key, attempt + 1)
                if refused.stored is None:
                    raise self.error(error, operation, key, self.missing) from refused.__cause__
                if same_decision(stored, refused.stored):
                    moved_on += 1
                stored = refused.stored
                backoff(attempt)
                continue
            logger.debug("%s %s: %s recorded", operation, key, outcome.value)
            finished = with_tiles(stored, sets, new) if exact else self.existing(key, operation, error)
            self._saw(finished)
            job = job_table.existing(job_table.key(key["image_id"]), operation, error) if job_table else None
            return finished, job
        raise self.error(error, operation, key, f"region kept changing: gave up after {CONTENTION_ATTEMPTS} sends")

    # -- updating ------------------------------------------------------------------------------

    @table_operation
    def update_region_request(self, region_request_item: RegionRequestItem) -> RegionRequestItem:
        """Write the item's set attributes and ``last_updated_time``.

        Tile lists and counts, ``region_retry_count`` and the times only state changes set
        (``start_time``, ``end_time``, ``expire_time``) are never written from the item.
        ``region_status`` may only be set to a running status, and only while the stored region
        is running: a stale copy cannot reopen a finished region.
        """
        operation = "update_region_request"
        given = validation.region_values(region_request_item)
        key = self.key(given["image_id"], given["region_id"])
        values = settable(given, exclude=(*self.key_names, *TILE_ATTRIBUTES, *ONLY_STATE_CHANGES_WRITE))
        values["last_updated_time"] = clock.now_ms()
        condition = RegionRequestItem.region_id.exists()
        if "region_status" in values:  # (already a valid status's name)
            if values["region_status"] in TERMINAL_VALUES:
                raise self.error(InvalidRegionRequestException, operation, key,
                                 f"region_status {values['region_status']} is an outcome: use complete_region_request")
            condition &= is_running()
        self._before(key)
        room = has_room_for(RegionRequestItem, values_size(RegionRequestItem, values), rewritten=values)
        stored: Optional[RegionRequestItem] = None
        cause: Optional[BaseException] = None
        after_unknown = False
        if room is None:  # too much for a proof: checked on the item as stored
            stored = self.read(key, operation=operation, error=UpdateRegionException)
        else:
            try:  # with room for the values whatever the item holds, or ...
                updated = self.update(key, set_actions(RegionRequestItem, values), condition & room,
                                      operation=operation, error=UpdateRegionException)
                self._saw(updated)
                copy_stored(region_request_item, updated)
                return updated
            except ConditionNotMet as refused:
                stored, cause, after_unknown = refused.stored, refused.__cause__, refused.after_unknown
        updated = self._update_as_stored(key, values, condition, stored, cause, after_unknown, operation)
        self._saw(updated)
        copy_stored(region_request_item, updated)
        return updated

    def _update_as_stored(self, key: Dict[str, str], values: Dict[str, Any], condition: Condition,
                          stored: Optional[RegionRequestItem], cause: Optional[BaseException], after_unknown: bool,
                          operation: str) -> RegionRequestItem:
        """... with room checked on the item as stored, whose other attributes must keep their sizes."""
        for attempt in range(CONTENTION_ATTEMPTS):
            if stored is None:
                raise self.error(UpdateRegionException, operation, key, self.missing) from cause
            if "region_status" in values and stored.region_status in TERMINAL_VALUES:
                landed = ("an earlier send of this update, whose answer was lost, may have landed before it "
                          "completed" if after_unknown else "status not changed")
                raise self.error(UpdateRegionException, operation, key,
                                 f"region already complete ({stored.region_status}); {landed}",
                                 item=stored) from cause
            self.check_room(key, with_values(stored, values), operation, before=stored, error=UpdateRegionException)
            try:
                return self.update(key, set_actions(RegionRequestItem, values),
                                   condition & sizes_as_in(stored, rewritten=values),
                                   operation=operation, error=UpdateRegionException)
            except ConditionNotMet as again:
                stored, cause = again.stored, again.__cause__
                after_unknown = after_unknown or again.after_unknown
                backoff(attempt)
        raise self.error(UpdateRegionException, operation, key, "region kept changing while updating")

    @table_operation
    def get_region_request(self, region_id: str, image_id: str) -> Optional[RegionRequestItem]:
        """The stored region (strongly consistent), or ``None``."""
        key = self.key(image_id, region_id)
        self._before(key)
        stored = self.read(key, operation="get_region_request", error=GetRegionRequestItemException)
        self._saw(stored, key)
        return stored

    @table_operation
    def list_regions(self, image_id: str) -> List[RegionRequestItem]:
        """Every region of the image, all pages, strongly consistent."""
        key = self.key(image_id)
        self._buffer.flush_image(self, key["image_id"])
        regions = self.query(key, operation="list_regions", error=GetRegionRequestItemException)
        for region in regions:
            self._saw(region)
        return regions

    # -- recording tiles -----------------------------------------------------------------------

    @table_operation
    def add_tile(
        self, image_id: str, region_id: str, tile: Sequence[Sequence[int]], state: TileState
    ) -> RegionRequestItem:
        """Record one tile's outcome in one write; a tile already recorded changes nothing.

        With ``tile_flush_seconds`` above 0, a tile of a region this process has seen stored is
        buffered (validated first) and written later with others; the region is returned as it
        will be once written.
        """
        if self.tile_flush_seconds > 0:
            key = self.key(image_id, region_id)
            box, tile_state = validation.tile(tile), validation.tile_state(state)
            expected = self._buffer.add(self, (key["image_id"], key["region_id"]), box, tile_state,
                                        self.tile_flush_seconds)
            if expected is not None:
                return expected
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
        last stored, if known and normalised (its lists let the write skip the per-tile checks)."""
        key = self.key(image_id, region_id)
        self._before(key)
        recorded_region = self._record(key, tiles, region=region, operation=operation)
        self._saw(recorded_region)
        return recorded_region

    def _record(self, key: Dict[str, str], tiles: Mapping[Any, Iterable[Any]], *,
                region: Optional[RegionRequestItem], operation: str) -> RegionRequestItem:
        batch: Batch = {}
        for state, state_tiles in tiles.items():
            batch.setdefault(validation.tile_state(state), []).extend(unique_tiles(state_tiles))
        batch = {state: each for state, each in batch.items() if each}
        if not batch:
            return region if region is not None else self.existing(key, operation, UpdateRegionException)
        stored = region
        seen = False  # whether ``stored`` came from DynamoDB in this call (a hint from the caller may be stale)
        room = has_room_for(RegionRequestItem, tile_bytes(batch)) if batch_size(batch) <= MAX_TILES_PER_WRITE else None
        if stored is None and room is not None:
            # Few tiles: one write, no read; its condition checks each tile is new and the item has room.
            try:
                return self._append(key, batch, None, room & none_recorded(batch), operation)
            except ConditionNotMet as refused:
                stored, seen = refused.stored, True
                if stored is None:
                    raise self.error(UpdateRegionException, operation, key, self.missing) from refused.__cause__
            except UpdateRegionException as exc:
                if not (exc.code == "ValidationException" and "data type" in exc.message):
                    raise
                # A list or count another writer stored as NULL: appended to from the item as stored.
        refusals = 0
        for attempt in range(CONTENTION_ATTEMPTS):
            # The item as stored is known: append what it lacks, on condition that it is still as seen
            # (so the size checked is the size written, and a resend of this write after a lost answer
            # is refused and recognised: nothing left to append). Where other writers keep appending,
            # that condition keeps failing: then each tile is checked new in the condition instead, and
            # the room proved from the lists' lengths as seen.
            if stored is None:
                stored, seen = self.existing(key, operation, UpdateRegionException), True
            new = new_tiles(stored, batch)
            if not new and not seen:
                stored = None  # the caller's copy holds every tile: check that the table does
                continue
            if not new:
                return stored
            self.check_room(key, stored, operation, extra=tile_bytes(new))  # tiles: always within the budget
            try:
                if refusals < EXACT_ATTEMPTS:
                    return self._append(key, new, stored, unchanged(stored), operation)
                chunk = first_tiles(new, LOOSE_TILES_PER_WRITE)
                stored = self._append(key, chunk, None, room_since(stored, tile_bytes(chunk)) & none_recorded(chunk),
                                      operation)
                seen = True
                continue  # the rest, if any
            except ConditionNotMet as refused:
                stored, seen = refused.stored, True
                if stored is None:
                    raise self.error(UpdateRegionException, operation, key, self.missing) from refused.__cause__
                refusals += 1
                backoff(attempt)
        raise self.error(UpdateRegionException, operation, key, "tiles kept changing while recording; gave up")

    def _append(self, key: Dict[str, str], batch: Batch, stored: Optional[RegionRequestItem], condition: Condition,
                operation: str) -> RegionRequestItem:
        actions = [*append_actions(batch, stored), RegionRequestItem.last_updated_time.set(clock.now_ms())]
        try:
            return self.update(key, actions, condition, operation=operation, error=UpdateRegionException)
        except UpdateRegionException as exc:
            if exc.code == "ValidationException" and "item size" in exc.message.lower():
                raise self.error(RegionFullError, operation, key, f"its tile lists are full: {exc.message}") \
                    from exc.__cause__
            raise

    def check_room(self, key: Mapping[str, str], after: RegionRequestItem, operation: str, *,
                   before: Optional[RegionRequestItem] = None, extra: int = 0,
                   error: Type[PynamoDBTablesError] = RegionFullError) -> None:
        """Raise ``error`` (:class:`RegionFullError`) if writing ``after`` (plus ``extra`` bytes) over
        ``before`` would break the size rule (``room.room_problem``)."""
        problem = room_problem(after, before=before, extra=extra)
        if problem is not None:
            what = "its tile lists are full" if error is RegionFullError else "no room for these values"
            raise self.error(error, operation, key, f"{what}: {problem}", item=with_values(after, {}))


#: Most tiles a write that checks each tile in its condition takes beside a room proof from a known state.
LOOSE_TILES_PER_WRITE = 100
#: Refusals by another worker's writes to the same running attempt after which a completion stops
#: pinning the whole region (see :meth:`RegionRequestTable.finish`).
EXACT_ATTEMPTS = 3


def own_values(given: Mapping[str, Any]) -> Dict[str, Any]:
    """The attributes of a region item that describe it (``message``, ``job_id``...): not its key,
    tiles, counts or the attributes its state changes set."""
    return settable(given, exclude=(*RegionRequestTable.key_names, *TILE_ATTRIBUTES, *LIFECYCLE_ATTRIBUTES))


def is_running_copy(item: Optional[RegionRequestItem]) -> bool:
    """Whether ``item`` carries a stored region's running state (status and start time)."""
    return item is not None and item.start_time is not None and item.region_status in NON_TERMINAL_VALUES


def with_tiles(region: RegionRequestItem, values: Mapping[str, object], batch: Batch) -> RegionRequestItem:
    """``region`` with ``values`` set and ``batch`` appended: what a completion leaves."""
    result = with_values(region, values)
    for state, tiles in batch.items():
        tile_list, tile_count = tile_lists(state)
        setattr(result, tile_list.attr_name, recorded(region, state) + tiles)
        setattr(result, tile_count.attr_name, int(getattr(region, tile_count.attr_name) or 0) + len(tiles))
    return result


def counting(job_table: "JobTable", job_key: Dict[str, str], outcome: RequestStatus, *, counted_before: bool) -> Write:
    """The job's write in a completion: its counter moved by the region's outcome.

    ``SUCCESS`` counts in ``region_success``, ``PARTIAL`` and ``FAILED`` in ``region_error``. A
    region whose earlier outcome was counted (it can only have been an error: a ``SUCCESS`` region
    is never restarted) gives that count back first; the job must then hold it. When the counts stay
    as they are (an error after an error), the job still gets an update, adding 0: a write without
    actions would be a ``ConditionCheck``, which needs ``dynamodb:ConditionCheckItem``, an IAM
    action the model runner's worker role does not have (an update costs the same).
    """
    success = 1 if outcome is RequestStatus.SUCCESS else 0
    error = (1 - success) - (1 if counted_before else 0)
    actions: List[Action] = []
    if success:
        actions.append(JobItem.region_success.add(success))
    if error or not success:
        actions.append(JobItem.region_error.add(error))
    condition = JobItem.image_id.exists()
    if counted_before and success:
        condition &= JobItem.region_error >= 1
    return Write(job_table, job_key, actions, condition)


def job_refusal(job_table: "JobTable", job_key: Dict[str, str], stored_job: Optional[JobItem],
                operation: str) -> PynamoDBTablesError:
    """The error for a completion whose job write was refused: no job, or no earlier count to move."""
    if stored_job is None:
        return job_table.error(CompleteRegionException, operation, job_key, job_table.missing)
    return job_table.error(
        CompleteRegionException, operation, job_key,
        "the region's earlier outcome is not counted in the job (was it counted with the seed's "
        "complete_region_request calls?); not counted", item=stored_job)
