"""The sequences an adversarial review found breaking the contract (issue 23), each as it was seen,
on DynamoDB Local: buffered tiles that can never fit, one table spelled two ways, a stale view of a
region, a new region's start whose answer was lost, bad settings, a TTL with a fraction, a
``multiprocessing`` worker ending normally, memory kept per region, reconcile and a lost answer.

(``tests/unit/test_bad_input.py`` has the bad-input finding on moto; the model-based test,
``tests/model/test_state_machine.py``, generates these classes.)"""

import gc
import logging
import multiprocessing
import time
import uuid

import botocore.session
import pytest

from pynamodb_tables import (
    JobItem,
    JobTable,
    RegionFullError,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileState,
    UpdateRegionException,
    complete_region,
    subscribe,
    tile_buffer,
)
from pynamodb_tables.repair import fail_stale, reconcile
from pynamodb_tables.room import ITEM_LIMIT
from tests.support.faults import CallCounter, FaultInjector, clients_of
from tests.support.workers import buffer_tiles_and_return

pytestmark = pytest.mark.dynamodb_local

LONG = 3600.0  # a buffering interval no test waits for


@pytest.fixture
def names(buffering_names):
    return buffering_names  # (tests/dynamodb_local/conftest.py)


@pytest.fixture
def client(dynamodb_local):
    """A plain botocore client: another process writing around this one."""
    return botocore.session.get_session().create_client("dynamodb", endpoint_url=dynamodb_local.endpoint)


def tables(names, seconds=0.0):
    job_name, region_name, host = names
    return JobTable(job_name, host=host), RegionRequestTable(region_name, host=host, tile_flush_seconds=seconds)


def started(names, seconds=0.0, regions=1):
    jobs, region_table = tables(names, seconds)
    jobs.start_image_request(JobItem("img", "job", region_count=regions))
    region_table.start_region_request(RegionRequestItem("r", "img", "job"))
    return jobs, region_table


def grid(count, offset=0):
    return [[[16 * ((n + offset) % 1000), 16 * ((n + offset) // 1000)], [16, 16]] for n in range(count)]


def key(region_id="r"):
    return {"image_id": {"S": "img"}, "region_id": {"S": region_id}}


def stored(client, names, region_id="r"):
    """The region as stored, read around the package (no flush)."""
    item = client.get_item(TableName=names[1], Key=key(region_id), ConsistentRead=True).get("Item")
    return None if item is None else RegionRequestItem.from_raw_data(item)


# 1. Buffered tiles that can never fit leave the buffer, reported once; the region completes.
def test_buffered_tiles_that_can_never_fit_do_not_strand_the_region(names, caplog):
    jobs, regions = started(names, seconds=LONG)
    length = ITEM_LIMIT
    while True:  # the longest message the package takes: the region filled to its budget
        try:
            regions.update_region_request(RegionRequestItem("r", "img", message="m" * length))
            break
        except UpdateRegionException:
            length -= 256
    events = []
    unsubscribe = subscribe(events.append)
    try:
        with caplog.at_level(logging.WARNING, logger="pynamodb_tables"):
            for tile in grid(100):
                regions.add_tile("img", "r", tile, TileState.SUCCEEDED)  # all buffered
            job = complete_region(jobs, regions, RegionRequestItem("r", "img"), RequestStatus.SUCCESS)
    finally:
        unsubscribe()
    assert job.region_success == 1
    region = regions.get_region_request("r", "img")
    assert region.region_status == "SUCCESS" and region.succeeded_tile_count == 0
    dropped = [event for event in events if event.operation == "flush" and isinstance(event.error, RegionFullError)]
    assert len(dropped) == 1 and "100 buffered tiles not recorded" in str(dropped[0].error)
    assert [r for r in caplog.records if "were not recorded" in r.getMessage()]
    assert regions._buffer.pending() == 0
    regions.flush()  # nothing left to retry
    regions.start_region_request(RegionRequestItem("r2", "img", "job"))  # the table goes on


# 2. One table, two spellings of its endpoint and region: one buffer.
@pytest.mark.parametrize("spelling", ["host", "region"])
def test_one_table_named_two_ways_has_one_buffer(names, monkeypatch, spelling):
    job_name, region_name, host = names
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", host)
    started(names)
    a = RegionRequestTable(region_name, tile_flush_seconds=LONG)  # endpoint and region from the environment
    b = RegionRequestTable(region_name, **({"host": host} if spelling == "host" else {"region": "us-east-1"}))
    a.get_region_request("r", "img")
    for tile in grid(3):
        a.add_tile("img", "r", tile, TileState.SUCCEEDED)
    assert b.get_region_request("r", "img").succeeded_tile_count == 3
    job = complete_region(JobTable(job_name), b, RegionRequestItem("r", "img"), RequestStatus.SUCCESS)
    assert job.region_success == 1 and b.get_region_request("r", "img").succeeded_tile_count == 3


# 3. A stale view of the region never drops a buffered tile.
def test_a_tile_shown_by_a_stale_view_is_still_buffered_and_written(names, client):
    _, p = started(names, seconds=LONG)
    tile = grid(1)[0]
    client.update_item(  # another process records the tile failed...
        TableName=names[1], Key=key(), UpdateExpression="SET failed_tiles = list_append(failed_tiles, :t), "
        "failed_tile_count = failed_tile_count + :one", ExpressionAttributeValues={
            ":t": {"L": [{"L": [{"L": [{"N": "0"}, {"N": "0"}]}, {"L": [{"N": "16"}, {"N": "16"}]}]}]},
            ":one": {"N": "1"}})
    assert p.get_region_request("r", "img").failed_tiles == [tile]  # ... this one sees it ...
    client.update_item(  # ... the other restarts the region (failed tiles cleared) ...
        TableName=names[1], Key=key(), UpdateExpression="SET failed_tiles = :none, failed_tile_count = :zero, "
        "region_retry_count = :one", ExpressionAttributeValues={":none": {"L": []}, ":zero": {"N": "0"},
                                                                 ":one": {"N": "1"}})
    returned = p.add_tile("img", "r", tile, TileState.FAILED)  # ... and this one records it again
    assert returned.failed_tiles == [tile]
    p.flush()
    region = stored(client, names)
    assert (region.failed_tiles, region.failed_tile_count) == ([tile], 1)


# 4. A new region's start whose answer was lost, another worker acting in the window: applied once.
def test_a_new_regions_start_whose_answer_was_lost_is_applied_once(names):
    jobs, w1 = tables(names)
    jobs.start_image_request(JobItem("img", "job", region_count=1))
    _, w2 = tables(names)
    tile = grid(1)[0]

    def duplicate_delivery():
        w2.start_region_request(RegionRequestItem("r", "img", "job"))
        w2.add_tile("img", "r", tile, TileState.FAILED)

    faults = FaultInjector("lost-response", every=1, operations=["UpdateItem"], limit=1,
                           between=duplicate_delivery).install(clients_of(jobs, w1))
    try:
        started_region = w1.start_region_request(RegionRequestItem("r", "img", "job"))
    finally:
        faults.remove()
    assert faults.injected["UpdateItem"] == 1
    region = w1.get_region_request("r", "img")
    assert (region.region_retry_count, region.failed_tiles, region.failed_tile_count) == (0, [tile], 1)
    assert started_region.start_time == region.start_time  # the worker holds the region as stored


# 6. A TTL another writer stored with a fraction: repairs and workers work on it.
def test_a_region_whose_ttl_has_a_fraction_can_be_repaired_and_completed(names, client):
    jobs, regions = tables(names)
    jobs.start_image_request(JobItem("img", "job", region_count=2))
    old = int(time.time() * 1000) - 3_600_000
    for region_id in ("stale", "worked"):
        client.put_item(TableName=names[1], Item={
            **key(region_id), "job_id": {"S": "job"}, "region_status": {"S": "STARTED"},
            "start_time": {"N": str(old)}, "last_updated_time": {"N": str(old)},
            "expire_time": {"N": f"{int(time.time()) + 86400}.25"}, "region_retry_count": {"N": "0"},
            "succeeded_tiles": {"L": []}, "failed_tiles": {"L": []},
            "succeeded_tile_count": {"N": "0"}, "failed_tile_count": {"N": "0"}})
    sweep = fail_stale(jobs, regions, ["img"], 60, apply=True)
    assert sorted((region.region_id, region.result) for region in sweep.regions) == [
        ("stale", "failed"), ("worked", "failed")]
    assert {r.region_status for r in regions.list_regions("img")} == {"FAILED"}
    client.update_item(TableName=names[1], Key=key("worked"), UpdateExpression="SET region_status = :s",
                       ExpressionAttributeValues={":s": {"S": "STARTED"}})
    worked = regions.get_region_request("worked", "img")
    counter = CallCounter(regions.clients())
    with counter:
        regions.add_tiles("img", "worked", grid(150), TileState.SUCCEEDED)  # (decided on the item as read)
        regions.complete_region_request(worked, RequestStatus.SUCCESS)
    assert counter.calls["UpdateItem"] + counter.calls["TransactWriteItems"] == 2  # no refused write
    assert reconcile(jobs, regions, ["img"]).agrees


# 7. A multiprocessing worker that ends normally writes its buffered tiles.
@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_multiprocessing_worker_ending_normally_writes_its_buffered_tiles(names, client, method):
    started(names)
    worker = multiprocessing.get_context(method).Process(target=buffer_tiles_and_return,
                                                         args=((names[2], names[0], names[1]), "img", "r", 5))
    worker.start()
    worker.join(120)
    assert worker.exitcode == 0
    assert stored(client, names).succeeded_tile_count == 5


# 8. Nothing is kept per region with buffering off; with it on, a bounded number of idle regions.
@pytest.mark.parametrize("seconds", [0.0, LONG])
def test_memory_kept_per_region_is_bounded(names, seconds):
    jobs, regions = tables(names, seconds)
    image_id = f"img-{uuid.uuid4().hex[:8]}"  # (its items told from any other test's)
    count = tile_buffer.KEPT_IDLE + 16 if seconds else 30
    jobs.start_image_request(JobItem(image_id, "job", region_count=count))
    for n in range(count):
        region = regions.start_region_request(RegionRequestItem(f"r{n}", image_id, "job"))
        for tile in grid(20):
            regions.add_tile(image_id, region.region_id, tile, TileState.SUCCEEDED)
        complete_region(jobs, regions, region, RequestStatus.SUCCESS)
    del region
    gc.collect()
    live = sum(1 for each in gc.get_objects()
               if isinstance(each, RegionRequestItem) and each.attribute_values.get("image_id") == image_id)
    assert live <= (tile_buffer.KEPT_IDLE if seconds else 0), f"{live} region items kept after {count} regions"
    assert len(regions._buffer._regions) <= (tile_buffer.KEPT_IDLE if seconds else 0)


# 10. A reconcile fix whose answer was lost is reported as fixed.
def test_a_reconcile_fix_whose_answer_was_lost_is_reported(names, client):
    jobs, regions = started(names)
    complete_region(jobs, regions, RegionRequestItem("r", "img"), RequestStatus.SUCCESS)
    client.update_item(TableName=names[0], Key={"image_id": {"S": "img"}}, UpdateExpression="SET region_success = :z",
                       ExpressionAttributeValues={":z": {"N": "0"}})
    faults = FaultInjector("lost-response", every=1, operations=["UpdateItem"], limit=1).install(
        clients_of(jobs, regions))
    try:
        result = reconcile(jobs, regions, ["img"])
    finally:
        faults.remove()
    assert faults.injected["UpdateItem"] == 1
    assert [(d.attribute, d.stored, d.recounted, d.fixed) for d in result.drifts] == [("region_success", 0, 1, True)]
    assert jobs.get_image_request("img").region_success == 1
