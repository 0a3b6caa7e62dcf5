"""A long-lived worker: thousands of operations on DynamoDB Local, one answer in three lost after the
write landed (a 500 or a read timeout, alternately). It must keep working to the end and leave
exact tables. ``SOAK_OPERATIONS`` sets the length (CI: 2,000; ``./dev soak``: 12,000)."""

import itertools
import os
import time
import uuid

import pytest

from pynamodb_tables import (
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    complete_region,
)
from tests.support.faults import FaultInjector, clients_of

pytestmark = [pytest.mark.dynamodb_local, pytest.mark.full]

REGIONS = 4
TILES = [[[16 * n, 0], [16, 16]] for n in range(10)]


class CountedWorker:
    """A worker that counts its package calls."""

    def __init__(self, job_table: JobTable, region_table: RegionRequestTable) -> None:
        self.jobs, self.regions, self.operations = job_table, region_table, 0

    def call(self, function, *args):
        self.operations += 1
        return function(*args)

    def image(self, image_id: str, number: int) -> None:
        self.call(self.jobs.start_image_request, JobItem(image_id, "job", region_count=REGIONS))
        for n in range(REGIONS):
            region = self.call(self.regions.start_region_request, RegionRequestItem(f"r-{n}", image_id, "job"))
            failing = TILES[n] if n == number % REGIONS else None
            if (number + n) % 2:  # tile by tile, then complete_region
                for tile in TILES:
                    region = self.call(self.regions.add_tile, image_id, region.region_id, tile,
                                       TileState.FAILED if tile == failing else TileState.SUCCEEDED)
                self.call(complete_region, self.jobs, self.regions, region,
                          RequestStatus.PARTIAL if failing else RequestStatus.SUCCESS)
            else:  # a recorder, completed with its last tiles
                recorder = TileRecorder(self.regions, image_id, region.region_id, region=region, flush_every=6)
                for tile in TILES:
                    self.operations += 1
                    recorder.record(tile, TileState.FAILED if tile == failing else TileState.SUCCEEDED)
                self.call(recorder.complete, self.jobs, RequestStatus.PARTIAL if failing else RequestStatus.SUCCESS)
        job = self.call(self.jobs.get_image_request, image_id)
        assert self.jobs.is_image_request_complete(job)
        self.call(self.jobs.end_image_request, image_id)


def test_a_long_lived_worker_keeps_working_through_lost_answers(dynamodb_local):
    target = int(os.environ.get("SOAK_OPERATIONS", "2000"))
    suffix = uuid.uuid4().hex[:8]
    job_table = JobTable(f"jobs-soak-{suffix}", host=dynamodb_local.endpoint)
    region_table = RegionRequestTable(f"regions-soak-{suffix}", host=dynamodb_local.endpoint)
    for table in (job_table, region_table):
        table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    worker = CountedWorker(job_table, region_table)
    injector = FaultInjector(("lost-response", "lost-timeout"), every=3).install(clients_of(job_table, region_table))
    images = []
    started = time.monotonic()
    try:
        for number in itertools.count():
            if worker.operations >= target:
                break
            image_id = f"img-{number}"
            worker.image(image_id, number)
            images.append(image_id)
    finally:
        injector.remove()
    lost = sum(injector.injected.values())
    print(f"soak: {worker.operations} operations on {len(images)} images in {time.monotonic() - started:.1f} s, "
          f"{lost} answers lost")
    assert lost >= worker.operations // 4
    for number, image_id in enumerate(images):
        job = job_table.get_image_request(image_id)
        assert (job.region_success, job.region_error) == (REGIONS - 1, 1) and job.end_time is not None
        for region in region_table.list_regions(image_id):
            n = int(region.region_id.split("-")[1])
            failed = 1 if n == number % REGIONS else 0
            assert region.region_status == ("PARTIAL" if failed else "SUCCESS")
            assert (region.succeeded_tile_count, region.failed_tile_count) == (len(TILES) - failed, failed)
            assert len(region.succeeded_tiles) == len(TILES) - failed and len(region.failed_tiles) == failed
            assert region.region_retry_count == 0
