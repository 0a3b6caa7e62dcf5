"""The model runner's worker calls for a whole image, replayed against the package (compatibility suite).

The seed documents describe the calls; the order and the forms of the values are those of the
model runner's own image and region handlers (osml-model-runner 2.3.0): a job item from the
image request, started and then updated with the image's size; every region started when it
is queued and started again when a worker picks it up (the first region by the image's own
worker, the others read back with ``get_region_request``); tiles recorded one by one as tuples
of ints with the runner's own ``TileState``; tile counts set on the item and written with
``update_region_request``; the job's counter; the region's outcome as the runner's
``RequestStatus``; the completeness check; the end. Then the redelivery of finished regions.
``./dev compat`` runs the model runner's real code; this suite needs nothing but the package.
docs/adopting.md's one change (``complete_region`` in place of the two completion calls) is run
both ways here.
"""

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, List, Set, Tuple

import pytest

from pynamodb_tables import JobItem, JobTable, RegionRequestItem, RegionRequestTable, complete_region
from tests.support.seed_forms import ForeignRequestStatus, ForeignTileState, Int64

IMAGE_ID = "job-1:s3://bucket/image.tif"
JOB_ID = "job-1"
Tile = Tuple[Tuple[Any, Any], Tuple[Any, Any]]


@dataclass
class Region:
    """One region of the image: its bounds, its tiles, and which of them the model fails on."""

    bounds: Tuple[Tuple[int, int], Tuple[int, int]]
    tiles: List[Tile]
    failing: Set[int] = field(default_factory=set)

    @property
    def region_id(self) -> str:
        return f"{self.bounds[0]}{self.bounds[1]}-{JOB_ID}"

    def request(self) -> SimpleNamespace:
        """What the runner's RegionRequest carries, as the seed's ``from_region_request`` reads it."""
        return SimpleNamespace(region_id=self.region_id, image_id=IMAGE_ID, job_id=JOB_ID, image_read_role=None,
                               region_bounds=self.bounds, tile_size=(256, 256), tile_overlap=(0, 0),
                               tile_format="NITF", tile_compression="NONE")


def image_regions() -> List[Region]:
    """Four regions of 2x2 tiles (numpy-style ints, as the tiling gives them); two with failing tiles."""
    regions = []
    for n, (x, y) in enumerate([(0, 0), (512, 0), (0, 512), (512, 512)]):
        tiles = [((Int64(x + dx), Int64(y + dy)), (Int64(256), Int64(256))) for dx in (0, 256) for dy in (0, 256)]
        failing = {0: set(), 1: {3}, 2: {0, 1, 2, 3}, 3: set()}[n]
        regions.append(Region(((x, y), (512, 512)), tiles, failing))
    return regions


def region_status(total: int, failed: int) -> ForeignRequestStatus:
    """How the runner's region status monitor decides the outcome."""
    if total == failed:
        return ForeignRequestStatus.FAILED
    if 0 < failed < total:
        return ForeignRequestStatus.PARTIAL
    return ForeignRequestStatus.SUCCESS


class Worker:
    """The runner's handlers' calls on the two tables, for one image."""

    def __init__(self, jobs: JobTable, regions: RegionRequestTable, *, exactly_once: bool = False) -> None:
        self.jobs, self.regions = jobs, regions
        self.exactly_once = exactly_once  # docs/adopting.md: the one change, complete_region
        self.events: List[str] = []

    def status_event(self, item: Any, status: Any) -> None:
        """The status monitors refuse items without the fields they publish."""
        assert item.job_id is not None and item.processing_duration is not None, item
        self.events.append(f"{getattr(item, 'region_id', 'image')}: {status.value}")

    def process_image(self, regions: List[Region]) -> JobItem:
        request = SimpleNamespace(image_id=IMAGE_ID, job_id=JOB_ID, image_url="s3://bucket/image.tif",
                                  image_read_role=None, model_name="model", model_invoke_mode="SM_ENDPOINT",
                                  tile_size=(256, 256), tile_overlap=(0, 0), outputs=[{"type": "S3"}],
                                  feature_properties=[], roi=None)
        job_item = JobItem.from_image_request(request)
        job_item.feature_distillation_option = json.dumps({"algorithm": "NMS"})
        self.jobs.start_image_request(job_item)
        self.status_event(job_item, ForeignRequestStatus.STARTED)
        job_item.region_count = len(regions)
        job_item.width, job_item.height = 1024, 1024
        job_item.extents = json.dumps([0, 0, 1024, 1024])
        job_item.feature_properties = json.dumps([*json.loads(job_item.feature_properties), {"source": "test"}])
        self.jobs.update_image_request(job_item)
        self.status_event(job_item, ForeignRequestStatus.IN_PROGRESS)
        first, *queued = regions
        for region in queued:  # queued for other workers, each started first
            self.regions.start_region_request(RegionRequestItem.from_region_request(region.request()))
        first_item = RegionRequestItem.from_region_request(first.request())
        self.regions.start_region_request(first_item)
        job = self.process_region(first, first_item)
        self.finish_if_complete(job)
        return job

    def pick_up(self, region: Region) -> JobItem:
        """A worker taking a queued region message: read the region back, or start it."""
        item = self.regions.get_region_request(region.region_id, IMAGE_ID)
        if item is None:
            item = RegionRequestItem.from_region_request(region.request())
            self.regions.start_region_request(item)
        job = self.process_region(region, item)
        self.finish_if_complete(job)
        return job

    def process_region(self, region: Region, item: RegionRequestItem) -> JobItem:
        try:
            self.regions.start_region_request(item)
            done = {json.dumps(tile) for tile in item.succeeded_tiles or []}
            todo = [tile for tile in region.tiles if json.dumps([[int(v) for v in pair] for pair in tile]) not in done]
            failed = 0
            for tile in todo:
                fails = region.tiles.index(tile) in region.failing
                failed += fails
                self.regions.add_tile(IMAGE_ID, region.region_id, tile,
                                      ForeignTileState.FAILED if fails else ForeignTileState.SUCCEEDED)
            item.total_tiles = len(todo)
            item.succeeded_tile_count = len(todo) - failed
            item.failed_tile_count = failed
            item = self.regions.update_region_request(item)
            status = region_status(item.total_tiles, item.failed_tile_count)
            if self.exactly_once:
                job = complete_region(self.jobs, self.regions, item, status)
            else:
                job = self.jobs.complete_region_request(IMAGE_ID, bool(failed))
                item = self.regions.complete_region_request(item, status)
            self.status_event(item, status)
            return job
        except Exception as err:  # the runner's handler fails the region
            self.events.append(f"{region.region_id}: {type(err).__name__}")
            item.message = f"Failed to process image region: {err}"
            return self.fail_region(item)

    def fail_region(self, item: RegionRequestItem) -> JobItem:
        try:
            item = self.regions.complete_region_request(item, ForeignRequestStatus.FAILED)
            return self.jobs.complete_region_request(item.image_id, error=True)
        except Exception as err:
            self.events.append(f"{item.region_id}: fail_region {type(err).__name__}")
            return self.jobs.get_image_request(IMAGE_ID)

    def finish_if_complete(self, job: JobItem) -> None:
        if self.jobs.is_image_request_complete(job):
            try:
                job_item = self.jobs.get_image_request(IMAGE_ID)
                ended = self.jobs.end_image_request(job_item.image_id)
            except Exception as err:  # the runner logs it and drops the message
                self.events.append(f"image: {type(err).__name__}")
                return
            self.status_event(ended, ForeignRequestStatus.SUCCESS)


def final_tables(jobs: JobTable, regions: RegionRequestTable) -> Tuple[JobItem, dict]:
    job = jobs.get_image_request(IMAGE_ID)
    by_id = {item.region_id: item for item in regions.list_regions(IMAGE_ID)}
    return job, by_id


def run_whole_image(worker: Worker, regions: List[Region]) -> None:
    worker.process_image(regions)
    for region in regions[1:]:
        worker.pick_up(region)


@pytest.mark.parametrize("exactly_once", [False, True], ids=["seed-calls", "complete_region"])
def test_a_whole_image_ends_with_exact_tables(tables, exactly_once):
    jobs, region_table = tables
    worker, regions = Worker(jobs, region_table, exactly_once=exactly_once), image_regions()
    run_whole_image(worker, regions)
    job, stored = final_tables(jobs, region_table)
    assert (job.region_count, job.region_success, job.region_error) == (4, 2, 2)
    assert job.end_time is not None and job.width == 1024
    assert json.loads(job.feature_properties) == [{"source": "test"}]
    expected = {0: ("SUCCESS", 4, 0), 1: ("PARTIAL", 3, 1), 2: ("FAILED", 0, 4), 3: ("SUCCESS", 4, 0)}
    for n, region in enumerate(regions):
        item = stored[region.region_id]
        status, succeeded, failed = expected[n]
        assert (item.region_status, item.succeeded_tile_count, item.failed_tile_count) == (status, succeeded, failed)
        assert (len(item.succeeded_tiles), len(item.failed_tiles)) == (succeeded, failed)
        assert item.region_retry_count == 0, "queued then picked up is not a retry"
        assert item.total_tiles == 4 and item.tile_size == [256, 256] and item.region_bounds == [
            list(region.bounds[0]), list(region.bounds[1])]
    assert not [event for event in worker.events if "Error" in event or "Exception" in event], worker.events
    assert worker.events[-1] == "image: SUCCESS"


def test_redelivered_partial_region_is_redone_and_ends_success(tables):
    jobs, region_table = tables
    worker, regions = Worker(jobs, region_table), image_regions()
    run_whole_image(worker, regions)
    partial = regions[1]
    partial.failing = set()  # the model works this time
    worker.events.clear()
    worker.pick_up(partial)
    assert worker.events == [f"{partial.region_id}: SUCCESS", "image: ImageAlreadyEndedError"]
    item = region_table.get_region_request(partial.region_id, IMAGE_ID)
    assert (item.region_status, item.region_retry_count) == ("SUCCESS", 1)
    assert (item.succeeded_tile_count, item.failed_tile_count, item.failed_tiles) == (4, 0, [])
    assert item.total_tiles == 4  # the region's (the runner counted the 1 tile it processed this time)
    job = jobs.get_image_request(IMAGE_ID)
    # The model runner's two calls, tied to the region the thread started, count it once by its latest outcome.
    assert (job.region_success, job.region_error) == (3, 1)


def test_redelivered_partial_region_with_complete_region_moves_the_count(tables):
    jobs, region_table = tables
    worker, regions = Worker(jobs, region_table, exactly_once=True), image_regions()
    run_whole_image(worker, regions)
    regions[1].failing = set()
    worker.pick_up(regions[1])
    job = jobs.get_image_request(IMAGE_ID)
    assert (job.region_success, job.region_error) == (3, 1)
    assert region_table.get_region_request(regions[1].region_id, IMAGE_ID).region_status == "SUCCESS"


def test_redelivered_successful_region_replays(backend, tables):
    jobs, region_table = tables
    worker, regions = Worker(jobs, region_table), image_regions()
    run_whole_image(worker, regions)
    done = regions[0]
    before_region = backend.raw_item(region_table.table_name, image_id=IMAGE_ID, region_id=done.region_id)
    worker.events.clear()
    worker.pick_up(done)
    # It replays: the start returns the region, its total is kept, its completion returns it, and the
    # handler reaches its image check (the image had ended: nobody left it unended).
    assert worker.events == [f"{done.region_id}: SUCCESS", "image: ImageAlreadyEndedError"]
    after_region = backend.raw_item(region_table.table_name, image_id=IMAGE_ID, region_id=done.region_id)
    assert {k: v for k, v in after_region.items() if k != "last_updated_time"} == {
        k: v for k, v in before_region.items() if k != "last_updated_time"}


def test_redelivered_successful_region_is_not_counted_again(backend, tables):
    jobs, region_table = tables
    worker, regions = Worker(jobs, region_table), image_regions()
    run_whole_image(worker, regions)
    before_job = backend.raw_item(jobs.table_name, image_id=IMAGE_ID)
    worker.pick_up(regions[0])
    assert backend.raw_item(jobs.table_name, image_id=IMAGE_ID) == before_job
