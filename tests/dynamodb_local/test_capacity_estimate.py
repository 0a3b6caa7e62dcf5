"""The embedded moto server answers with the capacity DynamoDB would charge (issue 25): the same calls on it
and on DynamoDB Local, which reports what DynamoDB charges, spend the same units per operation; a
transaction is never free."""

from typing import Any, Dict, Tuple

from pynamodb_tables import (
    JobItem,
    RegionRequestItem,
    RequestStatus,
    TileRecorder,
    TileState,
    complete_region,
    subscribe,
)
from pynamodb_tables.listeners import EventSummary
from pynamodb_tables.observing import Capacity
from pynamodb_tables.reads import pages
from pynamodb_tables.testing import MotoServer, create_tables


def calls(endpoint: str) -> Dict[str, Tuple[float, float]]:
    """One image of two regions, with every kind of write and read; each operation's (read, write) units."""
    job_table, region_table = create_tables(endpoint, "jobs-estimate", "regions-estimate")
    summary = EventSummary()
    unsubscribe = subscribe(summary)
    try:
        job_table.start_image_request(JobItem("img", "job", "s3://b/i.tif", region_count=2, width=4096,
                                              height=4096, outputs="x" * 3000))
        for n in range(2):
            region = region_table.start_region_request(RegionRequestItem(
                f"r{n}", "img", "job", region_bounds=((0, n * 2048), (2048, 2048)), tile_size=(512, 512),
                tile_overlap=(0, 0), total_tiles=40))
            tiles = [((x * 512, y * 512), (512, 512)) for x in range(4) for y in range(10)]
            if n == 0:
                for tile in tiles[:3]:
                    region_table.add_tile("img", "r0", tile, TileState.SUCCEEDED)
                region_table.add_tiles("img", "r0", tiles[3:], TileState.SUCCEEDED)
                complete_region(job_table, region_table, region, RequestStatus.SUCCESS)
            else:
                recorder = TileRecorder(region_table, "img", "r1", region=region)
                for tile in tiles:
                    recorder.record(tile, TileState.FAILED)
                recorder.complete(job_table, RequestStatus.FAILED)
        job_table.get_image_request("img")
        region_table.list_regions("img")
        region_table.get_region_request("img", "r0")
        job_table.end_image_request("img")
    finally:
        unsubscribe()
    scan = Capacity()
    list(pages(job_table, "scan", scan, attributes=["image_id"]))  # (a projected read is charged for whole items)
    figures = summary.figures()
    return {"scan": (scan.read_units, scan.write_units),
            **{operation: (each.read_units, each.write_units) for operation, each in figures.items()}}


def test_moto_is_charged_as_dynamodb_local_reports(dynamodb_local: Any) -> None:
    with MotoServer() as moto:
        estimated = calls(moto.endpoint)
    reported = calls(dynamodb_local.endpoint)
    assert estimated == reported
    assert estimated["complete_region"][1] > 0 and estimated["TileRecorder.complete"][1] > 0  # transactions
