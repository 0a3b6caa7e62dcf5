"""A worker-side buffer of one region's tile outcomes, written a batch at a time and with the outcome."""

import logging
import threading
import time
from types import TracebackType
from typing import Any, Dict, List, Optional, Type

from . import validation
from .completion import finish
from .errors import CompleteRegionException, InvalidRequestError, UpdateRegionException
from .items import Box, RegionRequestItem, RequestStatus, TileState
from .job_table import JobItem, JobTable
from .observing import located, operation
from .region_request_table import RegionRequestTable, regions_of
from .region_states import terminal_status
from .store import store_of

logger = logging.getLogger("pynamodb_tables")


class TileRecorder:
    """Buffers the tiles of one region; writes them in batches, and with the region's outcome.

    A flush writes both tile lists in one write (``RegionRequestTable.record_tiles``); it happens
    every ``flush_every`` tiles, when a tile arrives ``flush_interval`` seconds or more after the
    last flush (so progress stays visible), and on leaving the ``with`` block. A flush that fails
    keeps its tiles for the next one; tiles already recorded are skipped, so none is counted
    twice. :meth:`complete` writes the tiles still buffered, the region's outcome and the job's
    counter in one transaction, with every guarantee of ``complete_region``::

        region = regions.start_region_request(item)
        recorder = TileRecorder(regions, image_id, region_id, region=region)
        for tile in tiles_to_process(region, tiles):
            recorder.record(tile, TileState.SUCCEEDED if process(tile) else TileState.FAILED)
        job = recorder.complete(jobs, RequestStatus.SUCCESS)

    ``region``: the item ``start_region_request`` returned, so that completing needs no read.
    """

    def __init__(
        self,
        region_table: RegionRequestTable,
        image_id: str,
        region_id: str,
        *,
        region: Optional[RegionRequestItem] = None,
        flush_every: int = 1000,
        flush_interval: float = 10.0,
    ) -> None:
        if not isinstance(region_table, RegionRequestTable):
            raise InvalidRequestError(f"expected a RegionRequestTable, got {type(region_table).__name__}")
        if not isinstance(flush_every, int) or isinstance(flush_every, bool) or flush_every < 1:
            raise InvalidRequestError(f"flush_every must be a positive int, got {flush_every!r}")
        interval = validation.seconds(flush_interval, "flush_interval")
        self.region_table = region_table
        self.key = store_of(region_table).key(image_id, region_id)
        self.image_id, self.region_id = self.key["image_id"], self.key["region_id"]
        if region is not None and (not isinstance(region, RegionRequestItem)
                                   or (region.image_id, region.region_id) != (self.image_id, self.region_id)):
            raise InvalidRequestError(f"region must be the RegionRequestItem of image {image_id!r}, "
                                      f"region {region_id!r}, got {region!r}")
        if region is not None:  # its values in the plain forms conditions are built from
            region = RegionRequestItem(**validation.region_values(region))
        with located("TileRecorder", region_table.table_name):
            regions_of(region_table).before(self.key)  # tiles add_tile buffered for the region are written first
        self.flush_every = flush_every
        self.flush_interval = interval
        #: The region as last stored (after the last flush or completion), when known.
        self.region: Optional[RegionRequestItem] = region
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

    def _batch(self) -> Dict[TileState, List[Box]]:
        return {state: list(tiles) for state, tiles in self._pending.items() if tiles}

    def _written(self, batch: Dict[TileState, List[Box]]) -> None:
        for state, tiles in batch.items():
            del self._pending[state][:len(tiles)]  # only once written: a failed write keeps them

    def flush(self) -> Optional[RegionRequestItem]:
        """Write every buffered tile (both lists in one write); returns the region as stored."""
        with operation("TileRecorder.flush", self.region_table.table_name, UpdateRegionException, self.key), \
                self._lock:
            batch = self._batch()
            if batch:
                self.region = self.region_table.record_tiles(self.image_id, self.region_id, batch, region=self.region)
                self._written(batch)
            elif self.region is None:  # nothing to write (e.g. a resumed region with every tile done)
                self.region = self.region_table.get_region_request(self.region_id, self.image_id)
            self._last_flush = time.monotonic()
            return self.region

    def complete(self, job_table: JobTable, region_status: RequestStatus) -> JobItem:
        """Write the buffered tiles, the region's outcome and the job's counter in one transaction
        (tiles first, in their own write, where the item has no room for both); returns the job
        as stored. Counted once, whatever is retried or redelivered, as ``complete_region``."""
        with operation("TileRecorder.complete", self.region_table.table_name, CompleteRegionException, self.key):
            if not isinstance(job_table, JobTable):
                raise InvalidRequestError(f"expected a JobTable, got {type(job_table).__name__}")
            outcome = terminal_status(region_status)
            with self._lock:
                batch = self._batch()
                self.region, job = finish(regions_of(self.region_table), store_of(job_table), self.key, outcome,
                                          region=self.region,
                                          tiles=batch)
                assert job is not None
                self._written(batch)
                self._last_flush = time.monotonic()
                return job

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
