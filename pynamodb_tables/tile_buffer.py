"""Buffered tile writes: the tiles ``add_tile`` takes when ``DDB_TILE_FLUSH_SECONDS`` (or a table's
``tile_flush_seconds``) is set, held per table in the process and written a few writes at a time.

One :class:`TileBuffer` per table (name, endpoint, region) per process, shared by every
``RegionRequestTable`` object of that table (the model runner's tile workers each build their
own) and safe under many threads. A region's buffered tiles are written with ``record_tiles``
(recorded tiles skipped, counts moved with the lists, exactly once under every fault):

- within the interval of being buffered, by a daemon thread (it never keeps an interpreter from
  exiting) that wakes at the earliest deadline;
- when a region has :data:`FULL` tiles buffered, in the ``add_tile`` that buffers the last;
- before any other call of the process that reads or writes the region (the table calls
  :meth:`TileBuffer.flush_region` / :meth:`TileBuffer.flush_image` first);
- on ``RegionRequestTable.flush()``, and at a normal exit of the interpreter (or of a
  ``multiprocessing`` child, which skips ``atexit``: its target returned).

A write that fails keeps its tiles for the next one. A forked child starts with empty buffers
(the parent's tiles are the parent's to write). A process that crashes loses its buffered tiles,
which are then absent, never half-written: a redelivered region records them again.
"""

import atexit
import logging
import math
import multiprocessing.util
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

from . import validation
from .errors import ConfigurationError, RegionFullError, UpdateRegionException
from .items import Batch, Box, RegionRequestItem, TileKey, TileState, recorded, tile_key, tile_lists
from .observing import announce, operation
from .store import Store
from .tiles import batch_of, write_tiles

logger = logging.getLogger("pynamodb_tables")

FLUSH_ENV = "DDB_TILE_FLUSH_SECONDS"
#: Tiles buffered for one region that are written at once.
FULL = 1000
#: Regions with no tile buffered whose stored copy a buffer keeps (those seen last), so that their next
#: ``add_tile`` is buffered; a region seen longer ago has its next tile written at once, and is kept again.
KEPT_IDLE = 64

RegionKey = Tuple[str, str]  # (image_id, region_id)
TableKey = Tuple[str, Optional[str], Optional[str]]  # (table name, endpoint, region)


def flush_seconds(value: Any = None) -> float:
    """The buffering interval: ``value`` (a table's ``tile_flush_seconds``) if given, else
    ``DDB_TILE_FLUSH_SECONDS``; 0 (the default) turns buffering off."""
    name = "tile_flush_seconds"
    if value is None:
        raw = os.environ.get(FLUSH_ENV, "").strip()
        if not raw:
            return 0.0
        name, value = FLUSH_ENV, raw
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{FLUSH_ENV} must be a number of seconds, got {raw!r}") from None
    return validation.seconds(value, f"{name} (0: off)", ConfigurationError)


@dataclass
class _Region:
    """One region's buffered tiles, and what this process last saw stored."""

    stored: Optional[RegionRequestItem] = None
    pending: Batch = field(default_factory=dict)  # tiles buffered, each once per state, in order
    deadline: float = math.inf  # (monotonic) when the oldest buffered tile is due
    writer: Optional[Store[RegionRequestItem]] = None  # the store of the table object that buffered last
    #: One write of the region at a time (re-entrant: a call made while this thread writes, as a
    #: listener's, finds the tiles written or writes them again, recognised as recorded).
    writing: threading.RLock = field(default_factory=threading.RLock)
    #: Built when needed, dropped when ``stored`` or ``pending`` change: the pending tiles' keys, the
    #: stored copy's tile keys, and the pending tiles the copy does not show, by state.
    _index: Optional[Tuple[Dict[TileState, Set[TileKey]], Dict[TileState, Set[TileKey]], Batch]] = None

    def size(self) -> int:
        return sum(len(tiles) for tiles in self.pending.values())

    def saw(self, item: RegionRequestItem) -> None:
        """``item`` (the buffer's own copy) is the region as last seen stored."""
        self.stored, self._index = item, None

    def left(self, batch: Batch) -> None:
        """The tiles of ``batch`` were written: they leave the buffer (tiles buffered meanwhile stay)."""
        for state, tiles in batch.items():
            done = {tile_key(tile) for tile in tiles}
            self.pending[state] = [tile for tile in self.pending.get(state, []) if tile_key(tile) not in done]
        self.pending = {state: tiles for state, tiles in self.pending.items() if tiles}
        self._index = None

    def _indexed(self) -> Tuple[Dict[TileState, Set[TileKey]], Dict[TileState, Set[TileKey]], Batch]:
        if self._index is None:
            shown = {state: {tile_key(t) for t in recorded(self.stored, state)} for state in TileState}
            self._index = ({state: {tile_key(t) for t in self.pending.get(state, [])} for state in TileState}, shown,
                           {state: [t for t in tiles if tile_key(t) not in shown[state]]
                            for state, tiles in self.pending.items()})
        return self._index

    def buffer(self, tile: Box, state: TileState) -> None:
        """Buffer ``tile`` unless it is buffered already. A tile the copy of the region shows is buffered
        too: the copy may be stale (another process restarted the region, clearing its failed tiles), and
        the write skips what the table holds (``tiles.write_tiles`` checks a copy, never trusts it)."""
        buffered, shown, unshown = self._indexed()
        marker = tile_key(tile)
        if marker not in buffered[state]:
            buffered[state].add(marker)
            self.pending.setdefault(state, []).append(tile)
            if marker not in shown[state]:
                unshown.setdefault(state, []).append(tile)

    def expected(self) -> RegionRequestItem:
        """The region as it will be once its buffer is written (lists copied, tiles shared)."""
        assert self.stored is not None
        values = dict(self.stored.attribute_values)
        for state, tiles in self._indexed()[2].items():
            tile_list, tile_count = tile_lists(state)
            values[tile_list.attr_name] = recorded(self.stored, state) + tiles
            values[tile_count.attr_name] = int(values.get(tile_count.attr_name) or 0) + len(tiles)
        return RegionRequestItem(**values)


def _own_copy(item: RegionRequestItem) -> RegionRequestItem:
    """The buffer's own copy of a region some call also returns: the caller may change its item (set a
    number in another form, a value), never the state the buffer writes from. Its lists are copied; the
    tiles in them, which nobody changes in place, are shared."""
    values: Dict[str, Any] = {name: list(value) if isinstance(value, list) else value
                              for name, value in item.attribute_values.items()}
    return RegionRequestItem(**values)


class TileBuffer:
    """The buffered tiles of one table in this process."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Nothing buffered, nothing seen (new locks: another thread may have held the old ones at a fork)."""
        self._lock = threading.Lock()
        self._regions: Dict[RegionKey, _Region] = {}

    # -- what the process saw stored -------------------------------------------------------------

    def seen(self, item: Optional[RegionRequestItem], *, buffering: bool) -> None:
        """Remember ``item`` as the region last seen stored (after any call that returned or read it), if
        a table object that buffers saw it, or the buffer already knows the region (else: nothing kept)."""
        if item is None or item.image_id is None or item.region_id is None or not (buffering or self._regions):
            return  # (buffering off, and nothing buffered in this process: the buffer does nothing)
        key = (item.image_id, item.region_id)
        with self._lock:
            region = self._regions.pop(key, None)
            if region is None:
                if not buffering:
                    return
                region = _Region()
            self._regions[key] = region  # (the last seen last: the idle regions seen longest ago go first)
            region.saw(_own_copy(item))
            idle = [each for each, kept in self._regions.items() if not kept.pending]
            for each in idle[:max(0, len(idle) - KEPT_IDLE)]:
                del self._regions[each]

    def has_seen(self, key: RegionKey) -> bool:
        """Whether this process saw the region stored (its tiles are buffered, not written at once)."""
        with self._lock:
            region = self._regions.get(key)
            return region is not None and region.stored is not None

    def forget(self, key: RegionKey) -> None:
        """The region is unknown (a read found none): nothing of it is kept."""
        if not self._regions:
            return
        with self._lock:
            region = self._regions.get(key)
            if region is not None and not region.pending:
                del self._regions[key]

    # -- buffering ------------------------------------------------------------------------------

    def add(self, writer: Store[RegionRequestItem], key: RegionKey, tile: Box, state: TileState,
            seconds: float) -> Optional[RegionRequestItem]:
        """Buffer ``tile``; returns the region as it will be once written, or ``None`` when the region
        has not been seen stored in this process (the caller writes the tile at once)."""
        with self._lock:
            region = self._regions.get(key)
            if region is None or region.stored is None:
                return None
            region.buffer(tile, state)
            region.writer = writer
            region.deadline = min(region.deadline, time.monotonic() + seconds)
            full = region.size() >= FULL
            result = region.expected()
        _buffers.hold(self, True)
        if full:
            return self.flush_region(writer, key) or result
        _flusher.wake(self, region.deadline)
        return result

    # -- writing --------------------------------------------------------------------------------

    def flush_region(self, writer: Store[RegionRequestItem], key: RegionKey) -> Optional[RegionRequestItem]:
        """Write the region's buffered tiles (if any) through ``writer``; returns the region as stored
        afterwards (``None``: nothing was buffered). A failure keeps the tiles and raises."""
        if not self._regions:  # (nothing buffered in this process: no lock taken)
            return None
        with self._lock:
            region = self._regions.get(key)
            if region is None or not region.pending:
                return None
        with region.writing:
            with self._lock:
                batch = {state: list(tiles) for state, tiles in region.pending.items() if tiles}
                stored = region.stored
            if not batch:
                return None
            try:
                written = _write(writer, key, batch, stored)
            except RegionFullError as full:
                self._left(region, batch, None)
                _report_dropped(key, batch, writer.table_name, full)
                return None
            self._left(region, batch, written)
            return written

    def _left(self, region: _Region, batch: Batch, written: Optional[RegionRequestItem]) -> None:
        """The tiles of ``batch`` leave the buffer, written (``written``: the region as stored after) or
        dropped; the store that buffered them and the buffer itself are not kept for nothing."""
        with self._lock:
            region.left(batch)
            if written is not None:
                region.saw(_own_copy(written))
            if not region.pending:
                region.deadline, region.writer = math.inf, None
            holding = any(each.pending for each in self._regions.values())
        _buffers.hold(self, holding)

    def flush_image(self, writer: Store[RegionRequestItem], image_id: str) -> None:
        """Write the buffered tiles of every region of ``image_id``."""
        for key in self._keys(lambda key, region: key[0] == image_id):
            self.flush_region(writer, key)

    def flush_all(self, through: Optional[Store[RegionRequestItem]] = None) -> None:
        """Write every buffered tile (through ``through``, else each region's own last writer); the first
        failure is raised after every region was tried."""
        failure: Optional[BaseException] = None
        for key in self._keys(lambda key, region: True):
            writer = through or self._writer_of(key)
            if writer is None:
                continue
            try:
                self.flush_region(writer, key)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def flush_due(self, now: float) -> float:
        """Write the regions whose deadline passed (the timer); failures are logged and tried again at
        the next tick. Returns the next deadline."""
        for key in self._keys(lambda key, region: region.deadline <= now):
            writer = self._writer_of(key)
            if writer is None:
                continue
            try:
                self.flush_region(writer, key)
            except Exception:
                logger.warning("writing the buffered tiles of region %s failed; kept for the next tick", key,
                               exc_info=True)
                with self._lock:
                    region = self._regions.get(key)
                    if region is not None:
                        region.deadline = now + _RETRY_S
        with self._lock:
            return min((region.deadline for region in self._regions.values() if region.pending), default=math.inf)

    def pending(self, key: Optional[RegionKey] = None) -> int:
        """Tiles buffered (for one region, or for the table)."""
        with self._lock:
            regions = [self._regions.get(key)] if key is not None else list(self._regions.values())
            return sum(region.size() for region in regions if region is not None)

    def _keys(self, wanted: Callable[[RegionKey, _Region], bool]) -> List[RegionKey]:
        """The regions with buffered tiles that ``wanted`` picks (called under the lock: it must not take it)."""
        with self._lock:
            return [key for key, region in self._regions.items() if region.pending and wanted(key, region)]

    def _writer_of(self, key: RegionKey) -> Optional[Store[RegionRequestItem]]:
        with self._lock:
            region = self._regions.get(key)
            return region.writer if region is not None else None


#: How soon the timer tries again a write that failed.
_RETRY_S = 1.0


class _Flusher:
    """The daemon thread that writes buffered tiles when they are due."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._next = math.inf

    def wake(self, buffer: TileBuffer, deadline: float) -> None:
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pynamodb-tables-tile-flusher", daemon=True)
                self._thread.start()
            if deadline < self._next:
                self._next = deadline
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._next > time.monotonic():
                    self._condition.wait(timeout=None if math.isinf(self._next) else self._next - time.monotonic())
                self._next = math.inf
            now = time.monotonic()
            upcoming = min((buffer.flush_due(now) for buffer in _buffers.all()), default=math.inf)
            with self._condition:
                self._next = min(self._next, upcoming)


class _Buffers:
    """Every table's buffer in this process: held while a table object uses it or while it holds tiles
    (so a process that opens many tables keeps the buffers of those it still uses, and no buffered tile
    is dropped with its table object)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_table: weakref.WeakValueDictionary[TableKey, TileBuffer] = weakref.WeakValueDictionary()
        self._holding: Dict[int, TileBuffer] = {}  # buffers with tiles buffered, by id

    def reset(self) -> None:
        """Every buffer emptied (new lock: another thread may have held the old one at a fork)."""
        self._lock = threading.Lock()
        for buffer in self.all():
            buffer.reset()
        self._holding.clear()

    def of(self, table_key: TableKey) -> TileBuffer:
        with self._lock:
            buffer = self._by_table.get(table_key)
            if buffer is None:
                buffer = self._by_table[table_key] = TileBuffer()
            return buffer

    def hold(self, buffer: TileBuffer, holding: bool) -> None:
        """Keep ``buffer`` (it holds tiles) or let it go with its table objects (it holds none)."""
        with self._lock:
            if holding:
                self._holding[id(buffer)] = buffer
            else:
                self._holding.pop(id(buffer), None)

    def all(self) -> Iterator[TileBuffer]:
        with self._lock:
            return iter({id(each): each for each in [*self._by_table.values(), *self._holding.values()]}.values())


@dataclass(frozen=True)
class BufferedStore:
    """A region table's store with its process's tile buffer: every call that reads or writes a region
    writes the region's buffered tiles first (:meth:`before`) and remembers the region as stored after
    (:meth:`saw`). ``buffering``: the table object buffers (its ``tile_flush_seconds`` above 0)."""

    store: Store[RegionRequestItem]
    buffer: TileBuffer
    buffering: bool

    def before(self, key: Mapping[str, str]) -> None:
        """Write the region's buffered tiles before a call that reads or writes it."""
        self.buffer.flush_region(self.store, (key["image_id"], key["region_id"]))

    def saw(self, item: Optional[RegionRequestItem], key: Optional[Mapping[str, str]] = None) -> None:
        """Remember the region as stored (``None`` with its key: there is none)."""
        if item is not None:
            self.buffer.seen(item, buffering=self.buffering)
        elif key is not None:
            self.buffer.forget((key["image_id"], key["region_id"]))


_buffers = _Buffers()
_flusher = _Flusher()


def buffer_of(table_name: str, host: Optional[str], region: Optional[str]) -> TileBuffer:
    """The buffer of a table in this process (shared by every table object of it)."""
    return _buffers.of((table_name, host, region))


def _write(writer: Store[RegionRequestItem], key: RegionKey, batch: Batch,
           stored: Optional[RegionRequestItem]) -> RegionRequestItem:
    """Write tiles the buffer held (its flush: no flush before, it is one). An observed operation of its
    own, ``flush`` (the timer's, at exit), unless a call of the package made it (then counted in that call)."""
    with operation("flush", writer.table_name, UpdateRegionException, dict(zip(("image_id", "region_id"), key))):
        return write_tiles(writer, writer.key(*key), batch_of(batch), region=stored)


def _report_dropped(key: RegionKey, batch: Batch, table_name: str, full: RegionFullError) -> None:
    """Tiles that can never be written (the region's item has no room for them) are reported once (logged,
    and an event of their own), so that the region's other calls, its completion first, go on; the
    unbuffered ``add_tiles`` of the same tiles writes nothing either."""
    dropped = sum(len(tiles) for tiles in batch.values())
    region_key = dict(zip(("image_id", "region_id"), key))
    logger.warning("%d buffered tiles of region %s were not recorded: the region's item has no room for them (%s)",
                   dropped, region_key, full.message)
    announce("flush", table_name, region_key, RegionFullError(
        f"{dropped} buffered tiles not recorded: {full.message}", key=full.key, table=table_name))


def _flush_at_exit() -> None:
    for buffer in _buffers.all():
        try:
            buffer.flush_all()
        except Exception:
            logger.warning("writing buffered tiles at exit failed; they were not recorded", exc_info=True)


def _forget_all() -> None:
    """Every buffer emptied and the timer forgotten, as in a process that just started: a forked
    child (the parent's tiles are the parent's to write; its timer thread does not exist here),
    or a test's crash. Table objects keep their buffers, emptied in place."""
    global _flusher
    _buffers.reset()
    _flusher = _Flusher()


def _flush_when_child_ends(_: Any) -> None:
    """In a ``multiprocessing`` child (fork, forkserver, spawn), which ends through ``os._exit`` and so
    skips ``atexit``: the buffered tiles are written when its target returns, as at a normal exit."""
    multiprocessing.util.Finalize(None, _flush_at_exit, exitpriority=100)


atexit.register(_flush_at_exit)
multiprocessing.util.register_after_fork(_buffers, _flush_when_child_ends)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_all)
