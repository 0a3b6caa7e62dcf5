"""DynamoDB's 400 KB item limit, which moto does not enforce (and is slow with such items): a region's
tiles stop short of it, nothing written, and a full region can still complete and restart."""

import botocore.session
import pytest

from pynamodb_tables import (
    JobItem,
    RegionFullError,
    RegionRequestItem,
    RequestStatus,
    TileRecorder,
    TileState,
    UpdateRegionException,
    complete_region,
)
from pynamodb_tables.room import ITEM_BUDGET, ITEM_LIMIT, item_size
from tests.unit.test_tile_recording import grid

pytestmark = pytest.mark.parametrize("backend", ["dynamodb_local"], indirect=True)  # (the tables fixture's)

FILLED = 14_000  # about 27 bytes a tile: some 385 KB


@pytest.fixture
def region(region_table):
    return region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r"))


class TestItemLimit:
    def test_refused_before_the_limit_with_nothing_written(self, backend, region_table, region):
        region_table.add_tiles("img", "r", grid(FILLED), TileState.SUCCEEDED)
        before = backend.raw_item(region_table.table_name, image_id="img", region_id="r")
        with pytest.raises(RegionFullError, match="full") as raised:
            region_table.add_tiles("img", "r", grid(1_000, offset=FILLED), TileState.SUCCEEDED)
        assert isinstance(raised.value, UpdateRegionException)
        assert raised.value.item.succeeded_tile_count == FILLED
        assert backend.raw_item(region_table.table_name, image_id="img", region_id="r") == before

    @pytest.mark.full
    def test_long_lists_take_the_checked_path_even_for_one_tile(self, backend, region_table, region):
        region_table.add_tiles("img", "r", grid(FILLED), TileState.SUCCEEDED)
        stored = region_table.get_region_request("r", "img")
        room = ITEM_LIMIT - item_size(stored.serialize()) - 100  # DynamoDB itself would take one more tile
        write_message_around_the_package(backend.host, region_table, "m" * room)
        before = backend.raw_item(region_table.table_name, image_id="img", region_id="r")
        with pytest.raises(RegionFullError, match="full"):
            region_table.add_tile("img", "r", grid(1, offset=FILLED)[0], TileState.FAILED)
        assert backend.raw_item(region_table.table_name, image_id="img", region_id="r") == before

    @pytest.mark.full
    def test_updates_keep_room_to_complete(self, backend, region_table, region):
        region_table.add_tiles("img", "r", grid(FILLED), TileState.SUCCEEDED)
        stored = region_table.get_region_request("r", "img")
        room = ITEM_LIMIT - item_size(stored.serialize()) - 100
        before = backend.raw_item(region_table.table_name, image_id="img", region_id="r")
        with pytest.raises(UpdateRegionException, match="no room"):
            region_table.update_region_request(RegionRequestItem(image_id="img", region_id="r", message="m" * room))
        assert backend.raw_item(region_table.table_name, image_id="img", region_id="r") == before
        small = region_table.update_region_request(RegionRequestItem(image_id="img", region_id="r", message="ok"))
        assert small.message == "ok"

    def test_dynamodb_refusal_becomes_region_full(self, backend, region_table, region, monkeypatch):
        from pynamodb_tables import room
        monkeypatch.setattr(room, "ITEM_BUDGET", 2 * ITEM_LIMIT)  # the package's own check off
        stored = region_table.get_region_request("r", "img")
        room = ITEM_LIMIT - item_size(stored.serialize()) - 1_500  # less than 140 tiles' worth
        write_message_around_the_package(backend.host, region_table, "m" * room)
        before = backend.raw_item(region_table.table_name, image_id="img", region_id="r")
        with pytest.raises(RegionFullError) as raised:
            region_table.add_tiles("img", "r", grid(140), TileState.FAILED)
        assert raised.value.__cause__ is not None and raised.value.code is None
        assert backend.raw_item(region_table.table_name, image_id="img", region_id="r") == before

    @pytest.mark.full
    def test_a_region_past_its_budget_can_still_complete_and_restart(self, job_table, region_table, region):
        job_table.start_image_request(JobItem(image_id="img", region_count=1))
        region_table.add_tiles("img", "r", grid(FILLED), TileState.SUCCEEDED)
        stored = region_table.get_region_request("r", "img")
        over = ITEM_BUDGET - item_size(stored.serialize()) + 2_000  # past the budget, short of the limit
        write_message_around_the_package(region_table.host, region_table, "m" * over)
        job = complete_region(job_table, region_table, RegionRequestItem(image_id="img", region_id="r"), "FAILED")
        assert job.region_error == 1
        restarted = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r"))
        assert restarted.region_retry_count == 1  # a restart does not grow the item: allowed
        updated = region_table.update_region_request(RegionRequestItem(image_id="img", region_id="r", message="ok"))
        assert updated.message == "ok"


def write_message_around_the_package(host, region_table, message):
    """A large ``message`` written by another client (the package's own updates keep room to complete)."""
    client = botocore.session.get_session().create_client("dynamodb", endpoint_url=host)
    client.update_item(TableName=region_table.table_name, Key={"image_id": {"S": "img"}, "region_id": {"S": "r"}},
                       UpdateExpression="SET message = :m", ExpressionAttributeValues={":m": {"S": message}})


def test_tiles_that_do_not_fit_leave_the_region_running(job_table, region_table, region):
    job_table.start_image_request(JobItem(image_id="img", region_count=1))
    region = region_table.add_tiles("img", "r", grid(FILLED), TileState.SUCCEEDED)
    recorder = TileRecorder(region_table, "img", "r", region=region, flush_every=10_000)
    for tile in grid(1_000, offset=FILLED):
        recorder.record(tile, TileState.SUCCEEDED)
    with pytest.raises(RegionFullError):
        recorder.complete(job_table, RequestStatus.SUCCESS)
    assert recorder.pending == 1_000
    assert region_table.get_region_request("r", "img").region_status == "STARTED"
    assert job_table.get_image_request("img").region_success == 0
    job = TileRecorder(region_table, "img", "r", region=region).complete(job_table, RequestStatus.PARTIAL)
    assert job.region_error == 1  # without the tiles that do not fit, it completes
