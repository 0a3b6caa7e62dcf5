"""A worker's calls for one image, against an embedded DynamoDB (moto's server, in-process).

Run it with ``./dev example``. With ``AWS_ENDPOINT_URL_DYNAMODB`` set it uses that endpoint
instead (DynamoDB Local, say), creating the tables if they are missing.
"""

import logging
import os
import random

from pynamodb_tables import (
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileState,
    complete_region,
)


def run_image(job_table: JobTable, region_table: RegionRequestTable, image_id: str) -> JobItem:
    regions = [[[x, y], [1024, 1024]] for x in (0, 1024) for y in (0, 1024)]
    job_table.start_image_request(JobItem(image_id=image_id, job_id="demo-job", region_count=len(regions),
                                          image_url="s3://bucket/image.tif", width=2048, height=2048))
    rng = random.Random(3)
    for bounds in regions:
        region_id = f"{bounds}-{image_id}"
        region = region_table.start_region_request(RegionRequestItem(
            image_id=image_id, region_id=region_id, region_bounds=bounds, tile_size=[512, 512],
            tile_overlap=[0, 0], total_tiles=4))
        tiles = [[[bounds[0][0] + dx, bounds[0][1] + dy], [512, 512]] for dx in (0, 512) for dy in (0, 512)]
        for tile in tiles:
            state = TileState.FAILED if rng.random() < 0.2 else TileState.SUCCEEDED
            region_table.add_tile(image_id, region_id, tile, state)
            region_table.add_tile(image_id, region_id, tile, state)  # a duplicate delivery: changes nothing
        region = region_table.get_region_request(region_id, image_id) or region
        outcome = RequestStatus.SUCCESS if not region.failed_tile_count else RequestStatus.PARTIAL
        job = complete_region(job_table, region_table, region, outcome)
        complete_region(job_table, region_table, region, outcome)  # a retry: counted once
        print(f"region {bounds}: {outcome.value:8} tiles ok={region.succeeded_tile_count} "
              f"failed={region.failed_tile_count}  job {job.region_success}+{job.region_error}/{job.region_count}")
    job = job_table.get_image_request(image_id)
    if JobTable.is_image_request_complete(job):
        job = job_table.end_image_request(image_id)
    return job


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "example")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "example")
    server = None
    host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if not host:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's per-request lines
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        address = server.get_host_and_port()
        host = f"http://{address[0]}:{address[1]}"
        print(f"embedded DynamoDB (moto) at {host}")
    try:
        job_table, region_table = JobTable("example-jobs", host=host), RegionRequestTable("example-regions", host=host)
        for table in (job_table, region_table):
            if not table.model.exists():
                table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        job = run_image(job_table, region_table, image_id=f"image-{random.randrange(10**6)}")
        print(f"job {job.image_id}: success={job.region_success} error={job.region_error} "
              f"count={job.region_count} ended={job.end_time is not None} duration={job.processing_duration}s")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
