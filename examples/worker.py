"""A worker's calls for one image, against an embedded DynamoDB (DynamoDB Local where Java and its jar
are found, else moto's server): a whole image with the README's worker calls, then a table of those
calls built from the package's events (``subscribe``): per operation, calls, latency, requests sent,
resends by cause and capacity units (on moto, the package's estimate of what DynamoDB would charge,
said under the table).

Run it with ``./dev example``. With ``AWS_ENDPOINT_URL_DYNAMODB`` set it uses that endpoint
instead, creating the tables if they are missing.
"""

import contextlib
import os
import random
from typing import Iterator

from pynamodb_tables import (
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    subscribe,
    tiles_to_process,
)
from pynamodb_tables.listeners import EventSummary
from pynamodb_tables.management.views import operations_view, plain_text
from pynamodb_tables.testing import capacity_note, create_tables, embedded_dynamodb


def run_region(job_table: JobTable, region_table: RegionRequestTable, image_id: str, bounds: list,
               rng: random.Random) -> JobItem:
    """One region message: start it, process the tiles not done yet, record them and the outcome."""
    region = region_table.start_region_request(RegionRequestItem(
        f"{bounds}-{image_id}", image_id, "example-job", region_bounds=bounds, tile_size=(512, 512),
        tile_overlap=(0, 0), total_tiles=4))
    tiles = [[[bounds[0][0] + dx, bounds[0][1] + dy], [512, 512]] for dx in (0, 512) for dy in (0, 512)]
    recorder = TileRecorder(region_table, image_id, region.region_id, region=region)
    failed = 0
    for tile in tiles_to_process(region, tiles):
        ok = rng.random() > 0.2  # the model's answer for this tile
        failed += not ok
        recorder.record(tile, TileState.SUCCEEDED if ok else TileState.FAILED)
    outcome = RequestStatus.SUCCESS if not failed else RequestStatus.PARTIAL
    job = recorder.complete(job_table, outcome)  # tiles, outcome and job counter: one transaction
    again = recorder.complete(job_table, outcome)  # a retry of the same message: counted once
    assert (again.region_success, again.region_error) == (job.region_success, job.region_error)
    print(f"region {bounds}: {outcome.value:8} tiles ok={4 - failed} failed={failed}  "
          f"job {job.region_success}+{job.region_error}/{job.region_count}")
    return job


def run_image(job_table: JobTable, region_table: RegionRequestTable, image_id: str) -> JobItem:
    job: JobItem
    regions = [[[x, y], [1024, 1024]] for x in (0, 1024) for y in (0, 1024)]
    job_table.start_image_request(JobItem(image_id, "example-job", "s3://bucket/image.tif",
                                          region_count=len(regions), width=2048, height=2048))
    rng = random.Random(3)
    for bounds in regions:
        job = run_region(job_table, region_table, image_id, bounds, rng)
    if JobTable.is_image_request_complete(job):
        job = job_table.end_image_request(image_id)  # exactly one worker ends it
    return job


@contextlib.contextmanager
def endpoint() -> Iterator[str]:
    configured = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if configured:
        yield configured
        return
    for name, value in (("AWS_ACCESS_KEY_ID", "example"), ("AWS_SECRET_ACCESS_KEY", "example")):
        os.environ[name] = value  # the embedded server's, never real ones
    with embedded_dynamodb() as embedded:
        print(f"embedded DynamoDB at {embedded}")
        yield embedded


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with endpoint() as host:
        job_table, region_table = create_tables(host, "example-jobs", "example-regions")
        summary = EventSummary()
        unsubscribe = subscribe(summary)  # one event per call of the package, summed per operation
        try:
            job = run_image(job_table, region_table, image_id=f"image-{random.randrange(10**6)}")
        finally:
            unsubscribe()
        print(f"job {job.image_id}: success={job.region_success} error={job.region_error} "
              f"count={job.region_count} ended={job.end_time is not None} duration={job.processing_duration}s")
        print("\n" + plain_text(operations_view(summary.figures(), capacity_note(host))))


if __name__ == "__main__":
    main()
