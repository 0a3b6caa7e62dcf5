"""Faults injected below the package (botocore's HTTP send) against DynamoDB Local: the failure
modes a worker meets, each reproduced and checked (issue 9's six cases)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import botocore.session
import pytest

from pynamodb_tables import (
    CompleteRegionException,
    EndImageException,
    GetImageRequestItemException,
    GetRegionRequestItemException,
    JobItem,
    JobTable,
    PynamoDBTablesError,
    RegionFullError,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    StartImageException,
    StartRegionException,
    TileState,
    UpdateRegionException,
    complete_region,
)
from pynamodb_tables.items import TileListAttribute
from pynamodb_tables.validation import MAX_PIXEL
from tests.support.faults import CallCounter, FaultInjector, clients_of

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture
def tables(local_tables):
    return local_tables  # on DynamoDB Local only, names of the test's own


def another_worker(tables, **settings):
    """The same tables as another process would open them (its own clients: other settings)."""
    job_table, region_table = tables
    settings = settings or {"read_timeout_seconds": 29.5}
    return (JobTable(job_table.table_name, host=job_table.host, **settings),
            RegionRequestTable(region_table.table_name, host=region_table.host, **settings))


TILE = [[0, 0], [256, 256]]


# 1. A DynamoDB that does not answer: the package's error, naming the operation, table and key,
#    with the cause chained (it was a raw AttributeError).
@pytest.mark.parametrize(("call", "error"), [
    (lambda jobs, regions: jobs.get_image_request("img"), GetImageRequestItemException),
    (lambda jobs, regions: jobs.end_image_request("img"), EndImageException),
    (lambda jobs, regions: jobs.start_image_request(JobItem("img-2")), StartImageException),
    (lambda jobs, regions: jobs.complete_region_request("img", error=False), CompleteRegionException),
    (lambda jobs, regions: regions.add_tile("img", "r", TILE, TileState.SUCCEEDED), UpdateRegionException),
    (lambda jobs, regions: regions.add_tiles("img", "r", [TILE], TileState.FAILED), UpdateRegionException),
    (lambda jobs, regions: regions.start_region_request(RegionRequestItem("r", "img")), StartRegionException),
    (lambda jobs, regions: regions.update_region_request(RegionRequestItem("r", "img", "j")), UpdateRegionException),
    (lambda jobs, regions: regions.get_region_request("r", "img"), GetRegionRequestItemException),
    (lambda jobs, regions: regions.list_regions("img"), GetRegionRequestItemException),
    (lambda jobs, regions: complete_region(jobs, regions, RegionRequestItem("r", "img"), "SUCCESS"),
     CompleteRegionException),
], ids=["get_image_request", "end_image_request", "start_image_request", "complete_region_request",
        "add_tile", "add_tiles", "start_region_request", "update_region_request", "get_region_request",
        "list_regions", "complete_region"])
def test_a_dynamodb_that_does_not_answer_raises_the_packages_error(tables, call, error):
    job_table, region_table = tables
    job_table.start_image_request(JobItem("img", region_count=1))
    region_table.start_region_request(RegionRequestItem("r", "img"))
    injector = FaultInjector("no-answer", every=1).install(clients_of(job_table, region_table))
    try:
        with pytest.raises(error) as raised:
            call(job_table, region_table)
    finally:
        injector.remove()
    assert isinstance(raised.value, PynamoDBTablesError)
    assert "did not answer" in str(raised.value) and "ReadTimeoutError" in str(raised.value)
    assert raised.value.table in (job_table.table_name, region_table.table_name) and raised.value.key
    assert raised.value.__cause__ is not None and raised.value.code == "ReadTimeoutError"
    sends = 1 + job_table.settings.max_retry_attempts
    assert sum(injector.injected.values()) == sends  # the first request, sent once and resent three times


# 2. A long-lived worker keeps retrying: every lost answer is recovered, however many (botocore's
#    retry quota used to run dry after some thirty).
@pytest.mark.parametrize("kind", ["lost-response", "lost-timeout"])
def test_a_long_lived_worker_keeps_working_through_lost_answers(tables, kind):
    job_table, region_table = tables
    region_table.start_region_request(RegionRequestItem("r", "img"))
    injector = FaultInjector(kind, every=2, operations=["UpdateItem"]).install(clients_of(job_table, region_table))
    try:
        for n in range(120):
            region_table.add_tile("img", "r", [[n, 0], [1, 1]], TileState.SUCCEEDED)
    finally:
        injector.remove()
    assert injector.injected["UpdateItem"] >= 119
    stored = region_table.get_region_request("r", "img")
    assert stored.succeeded_tile_count == len(stored.succeeded_tiles) == 120


# 3. A retried region start is applied once, whatever another worker does in between.
TILE_2 = [[256, 0], [256, 256]]


def test_a_retried_restart_is_not_applied_again(tables):
    _, region_table = tables
    _, other_regions = another_worker(tables)
    region_table.start_region_request(RegionRequestItem("r", "img"))
    region_table.complete_region_request(RegionRequestItem("r", "img"), RequestStatus.FAILED)

    def worker_b_works_on_it_in_between():
        other_regions.add_tile("img", "r", TILE, TileState.FAILED)
        other_regions.start_region_request(RegionRequestItem("r", "img"))  # a retry: it has a tile
        other_regions.add_tile("img", "r", TILE_2, TileState.FAILED)

    # A's start: a write for a new region (refused: it exists), then its restart, a transaction whose answer is lost.
    injector = FaultInjector("lost-response", every=1, operations=["TransactWriteItems"], limit=1,
                             between=worker_b_works_on_it_in_between).install(region_table.clients())
    try:
        started = region_table.start_region_request(RegionRequestItem("r", "img"))  # worker A
    finally:
        injector.remove()
    assert injector.injected["TransactWriteItems"] == 1
    stored = region_table.get_region_request("r", "img")
    assert stored.region_retry_count == 2, "A's restart and B's restart, each once"
    assert (stored.failed_tiles, stored.failed_tile_count) == ([TILE_2], 1), "B's tile is kept"
    assert started.region_retry_count == 1  # what A's own restart left


# 4. Concurrent tile writers all land: ten threads each adding 150 new tiles to one region.
def test_add_tiles_under_contention_all_land(tables):
    _, region_table = tables
    region_table.start_region_request(RegionRequestItem("r", "img"))
    barrier = threading.Barrier(10, timeout=60)

    def writer(n):
        _, regions = another_worker(tables, read_timeout_seconds=30 + n)
        barrier.wait()
        return regions.add_tiles("img", "r", [[[x, n], [1, 1]] for x in range(150)], TileState.SUCCEEDED)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(writer, range(10)))
    assert len(results) == 10
    stored = region_table.get_region_request("r", "img")
    assert stored.succeeded_tile_count == len(stored.succeeded_tiles) == 1500
    assert len({tuple(map(tuple, tile)) for tile in stored.succeeded_tiles}) == 1500


# 5. A region always keeps room to complete: legal tiles written in batches that take the short path
#    (no read) stop before the item is too large to take its outcome. The lists are first filled
#    around the package to just short of where the short path's proof stops holding.
@pytest.mark.full
def test_a_region_filled_with_tiles_can_still_complete(tables, dynamodb_local):
    job_table, region_table = tables
    job_table.start_image_request(JobItem("img", region_count=1))
    region = region_table.start_region_request(RegionRequestItem("r", "img"))
    big = MAX_PIXEL - 1000  # the largest legal coordinates: the most bytes a tile can take
    filled = 4_400  # tiles in each list (the short path proves room up to some 4,600)
    lists = {state: [[[big - n, big - batch], [big, big]] for n in range(filled)]
             for batch, state in enumerate(("succeeded_tiles", "failed_tiles"))}
    client = botocore.session.get_session().create_client("dynamodb", endpoint_url=dynamodb_local.endpoint)
    client.update_item(
        TableName=region_table.table_name, Key={"image_id": {"S": "img"}, "region_id": {"S": "r"}},
        UpdateExpression="SET succeeded_tiles = :s, failed_tiles = :f, succeeded_tile_count = :n, "
                         "failed_tile_count = :n",
        ExpressionAttributeValues={":s": {"L": TileListAttribute().serialize(lists["succeeded_tiles"])},
                                   ":f": {"L": TileListAttribute().serialize(lists["failed_tiles"])},
                                   ":n": {"N": str(filled)}})
    written = 2 * filled
    with CallCounter(clients_of(job_table, region_table)) as calls, pytest.raises(RegionFullError):
        for batch in range(2, 200):
            tiles = [[[big - 10_000 - batch, big - n], [big, big]] for n in range(140)]
            region_table.add_tiles("img", "r", tiles, TileState.SUCCEEDED if batch % 2 else TileState.FAILED)
            written += 140
    assert written > 2 * filled + 140 and calls.calls["UpdateItem"] > 2  # some batches fit, then the region is full
    job = complete_region(job_table, region_table, region, RequestStatus.PARTIAL)
    assert (job.region_success, job.region_error) == (0, 1)
    stored = region_table.get_region_request("r", "img")
    assert stored.region_status == "PARTIAL"
    assert stored.succeeded_tile_count + stored.failed_tile_count == written
