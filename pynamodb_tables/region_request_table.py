"""The region request table: one item per region of an image, with its tiles and outcome.

Its state changes are written as conditions in ``region_states.py``, each decided and written
again from the refusal by ``store.settle``; its tile writes in ``tiles.py``; a
completion in ``completion.py``; the item's size rule in ``room.py``.
"""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, cast

from . import clock, validation
from .completion import finish, forget, tie_to
from .errors import (
    CompleteRegionException,
    GetRegionRequestItemException,
    InvalidRegionRequestException,
    InvalidRequestError,
    InvalidTileError,
    StartRegionException,
    UpdateRegionException,
)
from .items import (
    JobItem,
    RegionRequestItem,
    RequestStatus,
    TileState,
    copy_stored,
    is_outcome,
    set_actions,
    settable,
    with_values,
)
from .job_table import JobTable
from .observing import ConditionNotMet, Failed, failing_as, observed, table_operation
from .region_states import (
    EXACT_ATTEMPTS,
    LIFECYCLE_ATTRIBUTES,
    ONLY_STATE_CHANGES_WRITE,
    TILE_ATTRIBUTES,
    has_status,
    is_running,
    is_this_new_start,
    region_exists,
    region_total,
    same_decision,
    start,
    start_time_after,
    terminal_status,
    total_kept,
    totals_as_in,
)
from .room import has_room_for, require_room, sizes_as_in, values_size
from .store import BoundTable, Seen, Write, settle, store_of, transact
from .tile_buffer import BufferedStore, buffer_of, flush_seconds
from .tiles import batch_of, tiles_to_process, write_tiles

__all__ = ["REGION_REQUEST_TABLE_ENV", "RegionRequestItem", "RegionRequestTable", "tiles_to_process"]

REGION_REQUEST_TABLE_ENV = "REGION_REQUEST_TABLE"


class RegionRequestTable(BoundTable[RegionRequestItem]):
    """The region request table, named by ``table_name`` or ``REGION_REQUEST_TABLE``.

    Keywords: ``host``, ``region``, PynamoDB's connection settings (``connect_timeout_seconds``,
    ``read_timeout_seconds``, ``max_retry_attempts``, ``max_pool_connections``), and
    ``tile_flush_seconds`` (default: ``DDB_TILE_FLUSH_SECONDS``, else 0): above 0, ``add_tile``
    buffers tiles in the process and writes them a few writes at a time (``tile_buffer.py``).
    """

    _env_var = REGION_REQUEST_TABLE_ENV
    _key_names = ("image_id", "region_id")
    _missing = "unknown region: no region item"

    def __init__(self, table_name: Optional[str] = None, *, host: Optional[str] = None,
                 region: Optional[str] = None, tile_flush_seconds: Optional[float] = None,
                 **connection_settings: Any) -> None:
        super().__init__(RegionRequestItem, table_name, host=host, region=region, **connection_settings)
        #: Seconds a tile ``add_tile`` takes may wait in this process's buffer (0: written at once).
        self.tile_flush_seconds = flush_seconds(tile_flush_seconds)
        self._buffer = buffer_of(self.table_name, self.host, self.region)  # (as resolved: one table, one buffer)

    # -- the buffer ------------------------------------------------------------------------------

    @table_operation(UpdateRegionException)
    def flush(self) -> None:
        """Write every tile buffered for this table in this process (by any of its table objects)."""
        self._buffer.flush_all(self._store)

    @property
    def _regions(self) -> BufferedStore:
        """Its store with the process's buffer of the table (as this object buffers, now)."""
        return BufferedStore(self._store, self._buffer, self.tile_flush_seconds > 0)

    def _before(self, key: Mapping[str, str]) -> None:
        self._regions.before(key)

    def _saw(self, item: Optional[RegionRequestItem], key: Optional[Mapping[str, str]] = None) -> None:
        self._regions.saw(item, key)

    # -- starting ------------------------------------------------------------------------------

    @table_operation(StartRegionException)
    def start_region_request(self, region_request_item: RegionRequestItem) -> RegionRequestItem:
        """Start a region, or restart one that has not succeeded.

        A new region starts with status ``STARTED``, retry count 0 and no tiles. A region with
        an outcome or any tile (a retry or redrive) is restarted: retry count up by one, status
        ``STARTED``, succeeded tiles and count kept, failed tiles cleared. A region only queued
        and then picked up (no outcome, no tile) starts again without counting a retry. A
        ``SUCCESS`` region (a finished region delivered again) is returned as it is, nothing
        written: the delivery replays to the same result.
        """
        forget()  # (this thread's tie to the region it started before: completion.py)
        given = validation.region_values(region_request_item)
        key = self._store.key(given["image_id"], given["region_id"])
        values = own_values(given)
        require_room(RegionRequestItem(**{**key, **values}), key, error=InvalidRegionRequestException)
        # A region read back from the table (the model runner's workers pass one) is the state to start from.
        copy = RegionRequestItem(**given) if given.get("start_time") is not None else None
        self._before(key)
        stored = self._start(key, values, copy)
        self._saw(stored)
        tie_to(self._store, stored)  # (the model runner's two calls: completion.py)
        copy_stored(region_request_item, stored)
        return stored

    def _start(self, key: Dict[str, str], values: Dict[str, Any],
               copy: Optional[RegionRequestItem]) -> RegionRequestItem:
        """A plain write for a new region, else one transaction with a client request token, conditioned
        on the state the start was decided on (the caller's copy if it is one, then what each refusal
        returns)."""

        def step(seen: Seen[RegionRequestItem]) -> RegionRequestItem:
            stored = seen.item
            if stored is not None and stored.region_status == RequestStatus.SUCCESS.value:
                return stored if seen.known else self._store.existing(key)  # (a replay: as stored)
            now = start_time_after(stored, clock.now_ms())
            exact = seen.moved_on < EXACT_ATTEMPTS  # (refusals by writes to the same attempt: see completion.py)
            sets, condition = start(stored, values, now, exact=exact)
            result = with_values(stored if stored is not None else self._store.instance(key), sets)
            require_room(result, key, before=stored)
            actions = set_actions(RegionRequestItem, sets)
            if stored is None:
                # A new region: one plain write (half the units of a transaction). Sent again after a
                # lost answer, it is refused by its own landed copy, recognised by its start time
                # whatever another worker did to the region in the window.
                try:
                    return self._store.update(key, actions, condition)
                except ConditionNotMet as refused:
                    if refused.after_unknown and is_this_new_start(refused.stored, now):
                        return cast(RegionRequestItem, refused.stored)
                    raise
            transact([Write(self._store, key, actions, condition)])
            return result if exact else self._store.existing(key)

        return settle(step, Seen(copy), gave_up="region not started", key=key, same_decision=same_decision)

    # -- completing ----------------------------------------------------------------------------

    @table_operation(CompleteRegionException)
    def complete_region_request(
        self, region_request_item: RegionRequestItem, region_status: RequestStatus
    ) -> RegionRequestItem:
        """Record the region's outcome: status, ``end_time``, ``last_updated_time``, duration, and the
        item's own attributes (``message``...) where the region has room for them.

        Only a running region can complete. A region that already has this outcome is returned as
        stored, nothing written (a replay); one with another outcome raises
        :class:`RegionAlreadyCompleteError`. Tile lists and counts are never written.
        """
        given = validation.region_values(region_request_item)
        key = self._store.key(given["image_id"], given["region_id"])
        outcome = terminal_status(region_status)
        completed, _ = finish(self._regions, None, key, outcome, values=own_values(given))
        copy_stored(region_request_item, completed)
        return completed

    # -- updating ------------------------------------------------------------------------------

    @table_operation(UpdateRegionException)
    def update_region_request(self, region_request_item: RegionRequestItem) -> RegionRequestItem:
        """Write the item's set attributes and ``last_updated_time``.

        Tile lists and counts, ``region_retry_count`` and the times only state changes set
        (``start_time``, ``end_time``, ``expire_time``) are never written from the item.
        ``region_status`` may only be set to a running status, and only while the stored region
        is running: a stale copy cannot reopen a finished region. An outcome equal to the stored
        one (a finished region delivered again) is left as it is; another is refused.
        ``total_tiles`` is the region's: never stored below the stored total or the tiles it has
        recorded (a redelivery counting only the tiles it processed keeps the region's total).
        The caller's item is left as stored.
        """
        given = validation.region_values(region_request_item)
        key = self._store.key(given["image_id"], given["region_id"])
        values = settable(given, exclude=(*self._key_names, *TILE_ATTRIBUTES, *ONLY_STATE_CHANGES_WRITE))
        values["last_updated_time"] = clock.now_ms()
        condition = region_exists()
        outcome = values.pop("region_status") if is_outcome(values.get("region_status")) else None
        if outcome is not None:
            condition &= has_status(outcome)
        elif "region_status" in values:  # (already a valid status's name)
            condition &= is_running()
        total = values.get("total_tiles")
        self._before(key)
        room = has_room_for(RegionRequestItem, values_size(RegionRequestItem, values), rewritten=values)

        def step(seen: Seen[RegionRequestItem]) -> RegionRequestItem:
            sets = dict(values)
            if not seen.known:
                if room is not None:  # with room for the values whatever the item holds, or ...
                    guard = condition & room
                    if total is not None:
                        guard &= total_kept(total, given.get("succeeded_tile_count"), given.get("failed_tile_count"))
                    return self._store.update(key, set_actions(RegionRequestItem, sets), guard)
                seen = seen.read(self._store.read(key))  # (too much for a proof: checked on the item as stored)
            # ... with room checked on the item as stored, whose other attributes must keep their sizes.
            stored = seen.item
            if stored is None:
                raise self._store.unknown(key) from seen.cause
            if outcome is not None and stored.region_status != outcome:
                raise InvalidRegionRequestException(
                    f"region_status {outcome} is an outcome the region does not have ({stored.region_status}): "
                    "use complete_region_request", key=key, item=stored) from seen.cause
            if "region_status" in sets and is_outcome(stored.region_status):
                landed = ("an earlier send of this update, whose answer was lost, may have landed before it "
                          "completed" if seen.after_unknown else "status not changed")
                raise Failed(f"region already complete ({stored.region_status}); {landed}", key=key,
                             item=stored) from seen.cause
            guard = condition & sizes_as_in(stored, rewritten=sets)
            if total is not None:
                sets["total_tiles"] = region_total(stored, total)
                guard &= totals_as_in(stored)
            require_room(with_values(stored, sets), key, before=stored)
            return self._store.update(key, set_actions(RegionRequestItem, sets), guard)

        updated = settle(step, gave_up="region not updated", key=key)
        self._saw(updated)
        copy_stored(region_request_item, updated)
        return updated

    @table_operation(GetRegionRequestItemException)
    def get_region_request(self, region_id: str, image_id: str) -> Optional[RegionRequestItem]:
        """The stored region (strongly consistent), or ``None``."""
        key = self._store.key(image_id, region_id)
        self._before(key)
        stored = self._store.read(key)
        self._saw(stored, key)
        return stored

    @table_operation(GetRegionRequestItemException)
    def list_regions(self, image_id: str) -> List[RegionRequestItem]:
        """Every region of the image, all pages, strongly consistent."""
        key = self._store.key(image_id)
        self._buffer.flush_image(self._store, key["image_id"])
        regions = self._store.query(key)
        for region in regions:
            self._saw(region)
        return regions

    # -- recording tiles -----------------------------------------------------------------------

    @table_operation(UpdateRegionException)
    def add_tile(
        self, image_id: str, region_id: str, tile: Sequence[Sequence[int]], state: TileState
    ) -> RegionRequestItem:
        """Record one tile's outcome in one write; a tile already recorded changes nothing.

        With ``tile_flush_seconds`` above 0, a tile of a region this process has seen stored is
        buffered (validated first) and written later with others; the region is returned as it
        will be once written.
        """
        if self.tile_flush_seconds > 0:
            key = self._store.key(image_id, region_id)
            box, tile_state = validation.tile(tile), validation.tile_state(state)
            expected = self._buffer.add(self._store, (key["image_id"], key["region_id"]), box, tile_state,
                                        self.tile_flush_seconds)
            if expected is not None:
                return expected
        return self._record_tiles(image_id, region_id, {state: [tile]}, None)

    @table_operation(UpdateRegionException)
    def add_tiles(
        self, image_id: str, region_id: str, tiles: Iterable[Sequence[Sequence[int]]], state: TileState
    ) -> RegionRequestItem:
        """Record many tiles' outcomes in as few writes as possible; recorded tiles are skipped.

        Up to 140 new tiles take one write and no read; more take one read and one write. An empty list
        is refused (:class:`InvalidTileError`, an :class:`UpdateRegionException`) before any write.
        :class:`RegionFullError` (nothing written) when the item would outgrow DynamoDB's limit.
        """
        if isinstance(tiles, (str, bytes)) or not isinstance(tiles, Iterable):
            raise InvalidTileError(f"tiles must be a list of tiles, got {tiles!r}")
        listed = list(tiles)
        if not listed:  # (the model runner v3's own rule)
            raise InvalidTileError("tiles must hold at least one tile, got an empty list")
        return self._record_tiles(image_id, region_id, {state: listed}, None)

    def record_tiles(self, image_id: str, region_id: str, tiles: Mapping[Any, Iterable[Any]], *,
                     region: Optional[RegionRequestItem] = None) -> RegionRequestItem:
        """Record tiles of both states (``{TileState.SUCCEEDED: [...], TileState.FAILED: [...]}``) in one
        write where the item allows; tiles already recorded are skipped. ``region``: the item as
        last stored, if known and normalised (its lists let the write skip the per-tile checks)."""
        with failing_as(UpdateRegionException, "record_tiles", self.table_name):
            if not isinstance(tiles, Mapping):
                raise InvalidTileError("record_tiles takes tiles by state ({TileState.SUCCEEDED: [...], "
                                       f"TileState.FAILED: [...]}}), got {type(tiles).__name__}")
            return self._record_tiles(image_id, region_id, tiles, region)

    def _record_tiles(self, image_id: str, region_id: str, tiles: Mapping[Any, Iterable[Any]],
                      region: Optional[RegionRequestItem]) -> RegionRequestItem:
        key = self._store.key(image_id, region_id)
        self._before(key)
        recorded_region = write_tiles(self._store, key, batch_of(tiles), region=region)
        self._saw(recorded_region)
        return recorded_region


def regions_of(table: RegionRequestTable) -> BufferedStore:
    """The store and buffer of ``table``, for the package's own modules (completion, the recorder, repairs)."""
    return table._regions


def own_values(given: Mapping[str, Any]) -> Dict[str, Any]:
    """The attributes of a region item that describe it (``message``, ``job_id``...): not its key,
    tiles, counts or the attributes its state changes set."""
    return settable(given, exclude=(*RegionRequestTable._key_names, *TILE_ATTRIBUTES, *LIFECYCLE_ATTRIBUTES))


COMPLETE_REGION = "complete_region"


def complete_region(
    job_table: JobTable,
    region_table: RegionRequestTable,
    region_item: RegionRequestItem,
    region_status: RequestStatus,
) -> JobItem:
    """Record a region's outcome and count it in its job, both or neither; retry-safe.

    The region moves from running to ``region_status`` (``SUCCESS``, ``PARTIAL`` or
    ``FAILED``) and the job's ``region_success`` or ``region_error`` changes in the same
    transaction; the item's own attributes (``message``...) are written with the outcome where
    the region has room for them. Calling it again for a region that already has an outcome
    changes nothing. A region restarted after an outcome is counted by its latest outcome only.
    Returns the job item as stored afterwards; ``region_item`` then holds the region as stored.

    A ``region_item`` as the table returned it (``start_region_request``, ``add_tile``,
    ``update_region_request``) saves a read.
    """
    with observed(COMPLETE_REGION, getattr(region_table, "table_name", None)):
        if not isinstance(job_table, JobTable) or not isinstance(region_table, RegionRequestTable):
            raise InvalidRequestError("complete_region needs a JobTable and a RegionRequestTable",
                                      operation=COMPLETE_REGION)
        with failing_as(CompleteRegionException, COMPLETE_REGION, region_table.table_name):
            given = validation.region_values(region_item)
            key = store_of(region_table).key(given["image_id"], given["region_id"])
            outcome = terminal_status(region_status)
            region, job = finish(regions_of(region_table), store_of(job_table), key, outcome,
                                 region=RegionRequestItem(**given),
                                 values=own_values(given))
        assert job is not None
        copy_stored(region_item, region)
        return job
