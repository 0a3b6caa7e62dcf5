"""The demo's simulated image: regions of tiles, with failures, a crash and a duplicate delivery."""

from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..items import Box, RequestStatus
from ..observing import OperationFigures
from ..region_request_table import RegionRequestItem

TILE = 512


class Delivery(NamedTuple):
    """One region message, as a queue would deliver it."""

    region: int
    note: str  # "first delivery", "duplicate", "redelivery"
    crash_after: Optional[int] = None  # the worker crashes after this many tiles


class DemoEvent(NamedTuple):
    """What a worker did with one delivery."""

    delivery: Delivery
    kind: str  # "completed", "skipped" (already complete: nothing done), "crashed", "error"
    detail: str
    processed: int = 0  # tiles processed by this delivery
    counts: Optional[Tuple[int, int, int]] = None  # the job's region_success, region_error, region_count
    ended: str = ""  # "won" when this delivery ended the job, "already ended" when another had
    operations: Optional[Dict[str, OperationFigures]] = None  # the package's events of its calls, summed


@dataclass(frozen=True)
class Scenario:
    """A row of regions of tiles; one region partly fails, one fails, one crashes, one is delivered twice."""

    regions: int = 8
    tiles: int = 6
    partial_region: int = 2  # one tile fails: PARTIAL
    failed_region: int = 5  # every tile fails: FAILED
    crash_region: int = 3  # its worker crashes after ``crash_after`` tiles; the message is redelivered
    crash_after: int = 3
    duplicate_region: int = 6  # its message is delivered again once it has completed
    tile_seconds: float = 0.05  # simulated work per tile

    def region_id(self, n: int) -> str:
        return f"region-{n:02d}"

    def tiles_of(self, n: int) -> List[Box]:
        return [[[(n * self.tiles + t) * TILE, 0], [TILE, TILE]] for t in range(self.tiles)]

    def failing_tiles(self, n: int) -> List[Box]:
        tiles = self.tiles_of(n)
        if n == self.failed_region:
            return tiles
        return tiles[-2:-1] if n == self.partial_region else []

    def expected_status(self, n: int) -> RequestStatus:
        failing = len(self.failing_tiles(n))
        if not failing:
            return RequestStatus.SUCCESS
        return RequestStatus.FAILED if failing == self.tiles else RequestStatus.PARTIAL

    def region_item(self, image_id: str, n: int) -> RegionRequestItem:
        return RegionRequestItem(image_id=image_id, region_id=self.region_id(n), total_tiles=self.tiles,
                                 region_bounds=[[n * self.tiles * TILE, 0], [self.tiles * TILE, TILE]],
                                 tile_size=[TILE, TILE], tile_overlap=[0, 0])

    def deliveries(self) -> List[Delivery]:
        """The first messages: one per region, the crashing one with its crash."""
        return [Delivery(n, "first delivery", self.crash_after if n == self.crash_region else None)
                for n in range(self.regions)]

    def follow_ups(self, event: DemoEvent) -> List[Delivery]:
        """What the queue delivers after ``event``: a crashed message again; the duplicate once completed."""
        n = event.delivery.region
        if event.kind == "crashed":
            return [Delivery(n, "redelivery")]
        if n == self.duplicate_region and event.kind == "completed" and event.delivery.note == "first delivery":
            return [Delivery(n, "duplicate")]
        return []
