"""A worker-side buffer of tile outcomes, written with ``add_tiles`` a batch at a time."""

import logging
import threading
import time
from types import TracebackType
from typing import Any, Dict, List, Optional, Type

from . import validation
from .attributes import Box
from .errors import InvalidRequestError
from .region_request_table import RegionRequestItem, RegionRequestTable
from .status import TileState

logger = logging.getLogger("pynamodb_tables")


class TileRecorder:
    """Buffers the tiles of one region and records them with :meth:`RegionRequestTable.add_tiles`.

    A flush happens every ``flush_every`` tiles, when a tile arrives ``flush_interval`` seconds
    or more after the last flush (so progress stays visible), and on leaving the ``with``
    block. A flush that fails keeps its tiles for the next one; since ``add_tiles`` skips
    tiles already recorded, no tile is ever counted twice::

        with TileRecorder(regions, image_id, region_id) as recorder:
            for tile in tiles_to_process(region, tiles):
                recorder.record(tile, TileState.SUCCEEDED if process(tile) else TileState.FAILED)
        region = recorder.region  # as stored after the last flush
    """

    def __init__(
        self,
        region_table: RegionRequestTable,
        image_id: str,
        region_id: str,
        *,
        flush_every: int = 1000,
        flush_interval: float = 10.0,
    ) -> None:
        if not isinstance(region_table, RegionRequestTable):
            raise InvalidRequestError(f"expected a RegionRequestTable, got {type(region_table).__name__}")
        if not isinstance(flush_every, int) or isinstance(flush_every, bool) or flush_every < 1:
            raise InvalidRequestError(f"flush_every must be a positive int, got {flush_every!r}")
        if not isinstance(flush_interval, (int, float)) or flush_interval < 0:
            raise InvalidRequestError(f"flush_interval must be a number of seconds >= 0, got {flush_interval!r}")
        self.region_table = region_table
        self.image_id = validation.require_key(image_id, "image_id")
        self.region_id = validation.require_key(region_id, "region_id")
        self.flush_every = flush_every
        self.flush_interval = float(flush_interval)
        self.region: Optional[RegionRequestItem] = None
        self._pending: Dict[TileState, List[Box]] = {state: [] for state in TileState}
        self._last_flush = time.monotonic()
        self._lock = threading.RLock()

    @property
    def pending(self) -> int:
        """Tiles recorded here and not yet written."""
        with self._lock:
            return sum(len(tiles) for tiles in self._pending.values())

    def record(self, tile: Any, state: Any) -> None:
        """Buffer one tile's outcome (validated now); flush when a batch is due."""
        box, tile_state = validation.tile(tile), validation.tile_state(state)
        with self._lock:
            self._pending[tile_state].append(box)
            due = self.pending >= self.flush_every or time.monotonic() - self._last_flush >= self.flush_interval
        if due:
            self.flush()

    def flush(self) -> Optional[RegionRequestItem]:
        """Write every buffered tile; returns the region as stored (``None`` for an unknown region)."""
        with self._lock:
            for state, tiles in self._pending.items():
                if tiles:
                    batch = list(tiles)
                    self.region = self.region_table.add_tiles(self.image_id, self.region_id, batch, state)
                    del tiles[:len(batch)]  # only once written: a failed flush keeps them
            self._last_flush = time.monotonic()
            if self.region is None:  # nothing to write (e.g. a resumed region with every tile done)
                self.region = self.region_table.get_region_request(self.region_id, self.image_id)
            return self.region

    def __enter__(self) -> "TileRecorder":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc is None:
            self.flush()
            return
        try:  # the block failed: still record what was done, without hiding its error
            self.flush()
        except Exception:
            logger.warning("flushing %d tiles of region %s after an error failed; they were not recorded",
                           self.pending, self.region_id, exc_info=True)
