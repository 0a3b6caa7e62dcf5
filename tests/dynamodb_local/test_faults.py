"""Throttling, 5xx, lost responses and a crashed DynamoDB Local: every operation lands once."""

import uuid

import pytest

from pynamodb_tables import (
    JobItem,
    JobTable,
    PynamoDBTablesError,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    complete_region,
    tiles_to_process,
)
from pynamodb_tables.testing import DynamoDBLocal
from tests.support.faults import FaultInjector, clients_of

pytestmark = pytest.mark.dynamodb_local

REGIONS = 6
TILES = [[[32 * n, 0], [32, 32]] for n in range(5)]


def create(host: str, suffix: str):
    job_table, region_table = JobTable(f"jobs-{suffix}", host=host), RegionRequestTable(f"regions-{suffix}", host=host)
    for table in (job_table, region_table):
        table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    return job_table, region_table


def run_region(job_table, region_table, n: int, outcome: RequestStatus, tiles=TILES, recorder: bool = False) -> None:
    """A delivery, sent twice (a duplicate), with one tile failing in a FAILED region: tile by tile and
    ``complete_region``, or with a ``TileRecorder`` and ``recorder.complete``."""
    region = region_table.start_region_request(RegionRequestItem(image_id="img", region_id=f"r-{n}"))
    for _ in range(2):
        buffered = TileRecorder(region_table, "img", region.region_id, region=region) if recorder else None
        for tile in tiles_to_process(region, tiles):
            failed = outcome is RequestStatus.FAILED and tile == tiles[0]
            state = TileState.FAILED if failed else TileState.SUCCEEDED
            if buffered is not None:
                buffered.record(tile, state)
            else:
                region_table.add_tile("img", region.region_id, tile, state)
        if buffered is not None:
            buffered.complete(job_table, outcome)
        else:
            complete_region(job_table, region_table, region, outcome)


def run_image(job_table, region_table, recorder: bool = False) -> None:
    job_table.start_image_request(JobItem(image_id="img", region_count=REGIONS))
    for n in range(REGIONS):
        run_region(job_table, region_table, n, RequestStatus.FAILED if n == 0 else RequestStatus.SUCCESS,
                   recorder=recorder)
    run_region(job_table, region_table, 0, RequestStatus.SUCCESS, recorder=recorder)  # the redrive of the failed region
    replayed = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r-0"))
    assert replayed.region_status == "SUCCESS"  # a finished region delivered again: returned as it is
    job_table.end_image_request("img")


def check_image(job_table, region_table) -> None:
    job = job_table.get_image_request("img")
    assert (job.region_success, job.region_error) == (REGIONS, 0)
    assert job.end_time is not None
    regions = {r.region_id: r for r in region_table.list_regions("img")}
    assert len(regions) == REGIONS
    for region_id, region in regions.items():
        assert region.region_status == "SUCCESS"
        assert sorted(region.succeeded_tiles) == sorted(TILES) and region.succeeded_tile_count == len(TILES)
        assert (region.failed_tiles, region.failed_tile_count) == ([], 0)
        assert region.region_retry_count == (1 if region_id == "r-0" else 0)


# One request in five is faulted: enough to hit every operation, few enough that botocore's
# standard-mode retry quota (500 tokens, 5 per retry) lasts through the image, as it would on AWS.
@pytest.mark.parametrize("recorder", [False, True], ids=["tile-by-tile", "recorder"])
@pytest.mark.parametrize(("kind", "every"), [("throttle", 5), ("server-error", 5), ("lost-response", 5),
                                             ("transaction-conflict", 5), ("lost-timeout", 3), ("no-answer", 4)])
def test_image_lands_exactly_once_under_faults(dynamodb_local, kind, every, recorder):
    job_table, region_table = create(dynamodb_local.endpoint, f"fault-{uuid.uuid4().hex[:8]}")
    # Only writes meet transaction conflicts; reads of an item in a transaction see its last committed state.
    operations = ["UpdateItem", "TransactWriteItems"] if kind == "transaction-conflict" else None
    injector = FaultInjector(kind, every, operations).install(clients_of(job_table, region_table))
    try:
        run_image(job_table, region_table, recorder)
    finally:
        injector.remove()
    # One request in `every` of each operation faulted (the image makes about 50 writes tile by tile, 20 with
    # recorders): the faults met every kind of write.
    assert sum(injector.injected.values()) >= (4 if recorder else 10), injector.injected
    assert ({"TransactWriteItems"} if recorder else {"UpdateItem", "TransactWriteItems"}) <= set(injector.injected)
    check_image(job_table, region_table)


def test_a_retried_transaction_carries_the_same_client_request_token(dynamodb_local):
    job_table, region_table = create(dynamodb_local.endpoint, f"token-{uuid.uuid4().hex[:8]}")
    job_table.start_image_request(JobItem(image_id="img", region_count=1))
    region = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r-0"))
    # The first TransactWriteItems is applied and its answer lost; botocore's retry passes.
    injector = FaultInjector("lost-response", 1, operations=["TransactWriteItems"], limit=1)
    injector.install(clients_of(job_table, region_table))
    try:
        job = complete_region(job_table, region_table, region, RequestStatus.SUCCESS)
    finally:
        injector.remove()
    assert injector.injected["TransactWriteItems"] == 1
    tokens = [body["ClientRequestToken"] for body in injector.sent]
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    assert (job.region_success, job.region_error) == (1, 0)


@pytest.mark.full
def test_dynamodb_killed_mid_image_then_restarted(tmp_path):
    server = DynamoDBLocal(db_path=str(tmp_path)).start()
    try:
        job_table, region_table = create(server.endpoint, "crash")
        job_table.start_image_request(JobItem(image_id="img", region_count=REGIONS))
        for n in range(3):
            run_region(job_table, region_table, n, RequestStatus.FAILED if n == 0 else RequestStatus.SUCCESS)
        region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r-3"))
        region_table.add_tile("img", "r-3", TILES[0], TileState.SUCCEEDED)

        server.kill()
        with pytest.raises(PynamoDBTablesError) as raised:
            region_table.add_tile("img", "r-3", TILES[1], TileState.SUCCEEDED)
        message = str(raised.value)
        assert "add_tile" in message and "regions-crash" in message and "r-3" in message
        assert "Could not connect" in message or "Connection" in message
        assert raised.value.__cause__ is not None
        with pytest.raises(PynamoDBTablesError):
            complete_region(job_table, region_table, RegionRequestItem(image_id="img", region_id="r-3"), "SUCCESS")

        server.start()  # same port, same files
        for n in range(3, REGIONS):  # r-3 is picked up where it stopped
            run_region(job_table, region_table, n, RequestStatus.SUCCESS)
        run_region(job_table, region_table, 0, RequestStatus.SUCCESS)
        job_table.end_image_request("img")
        assert region_table.get_region_request("r-3", "img").region_retry_count == 1  # resumed once
        job = job_table.get_image_request("img")
        assert (job.region_success, job.region_error) == (REGIONS, 0)
        assert sorted(region_table.get_region_request("r-3", "img").succeeded_tiles) == sorted(TILES)
    finally:
        server.stop()
