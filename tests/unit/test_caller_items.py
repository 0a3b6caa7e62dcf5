"""The contract's "Items" section on moto and DynamoDB Local: the caller's item kept current,
values in the seed callers' forms stored plainly, and items that cannot be read."""

import copy
from decimal import Decimal

import botocore.session
import pytest
from freezegun import freeze_time

from pynamodb_tables import (
    GetImageRequestItemException,
    GetRegionRequestItemException,
    ImageRequestExistsError,
    InvalidRegionRequestException,
    JobItem,
    PynamoDBTablesError,
    RegionAlreadyCompleteError,
    RegionRequestItem,
    RequestStatus,
    TileState,
    UpdateRegionException,
    complete_region,
)
from tests.support.backends import T0, T0_MS
from tests.support.seed_forms import ForeignRequestStatus, ForeignTileState, Int64

TILE = ((0, 0), (256, 256))


def snapshot(item):
    return copy.deepcopy(item.attribute_values)


def held(item):
    """The attributes an item holds (set ones only)."""
    return {name: value for name, value in item.attribute_values.items() if value is not None}


class TestCallersItemKeptCurrent:
    def test_start_image_request(self, job_table):
        item = JobItem("img-1", "job-1", region_count=2)
        with freeze_time(T0):
            returned = job_table.start_image_request(item)
        assert (item.start_time, item.processing_duration, item.region_success, item.region_error) == (T0_MS, 0, 0, 0)
        assert item.expire_time == returned.expire_time
        assert held(item) == held(returned)

    def test_refused_start_leaves_the_item_as_it_was(self, job_table):
        job_table.start_image_request(JobItem("img-1", "job-1"))
        again = JobItem("img-1", "job-2")
        before = snapshot(again)
        with pytest.raises(ImageRequestExistsError) as raised:
            job_table.start_image_request(again)
        assert again.attribute_values == before
        assert raised.value.item.job_id == "job-1"

    def test_update_image_request(self, job_table):
        item = JobItem("img-1", "job-1")
        job_table.start_image_request(item)
        job_table.complete_region_request("img-1", error=True)  # the counter moves on; the copy is stale
        item.width = 100
        returned = job_table.update_image_request(item)
        assert (item.width, item.region_error) == (100, 1)
        assert held(item) == held(returned)

    def test_start_region_request_from_a_region_read_back_with_an_outcome(self, region_table):
        region_table.start_region_request(RegionRequestItem("r-1", "img-1", "job-1"))
        region_table.add_tile("img-1", "r-1", TILE, TileState.SUCCEEDED)
        region_table.complete_region_request(RegionRequestItem("r-1", "img-1"), RequestStatus.PARTIAL)
        item = region_table.get_region_request("r-1", "img-1")  # as the model runner's worker reads it
        returned = region_table.start_region_request(item)
        assert item.region_status == "STARTED" and item.region_retry_count == 1
        assert held(item) == held(returned)
        item.message = "retrying"
        updated = region_table.update_region_request(item)  # no longer refused with the old outcome
        assert item.message == updated.message == "retrying"

    def test_complete_region_request(self, region_table):
        item = RegionRequestItem("r-1", "img-1")
        region_table.start_region_request(item)
        region_table.add_tile("img-1", "r-1", TILE, TileState.FAILED)
        returned = region_table.complete_region_request(item, ForeignRequestStatus.FAILED)
        assert item.region_status == "FAILED" and item.failed_tiles == [[[0, 0], [256, 256]]]
        assert held(item) == held(returned)
        before = snapshot(item)
        with pytest.raises(RegionAlreadyCompleteError):
            region_table.complete_region_request(item, RequestStatus.SUCCESS)
        assert item.attribute_values == before

    def test_refused_update_leaves_the_item_as_it_was(self, region_table):
        item = RegionRequestItem("r-1", "img-1")
        region_table.start_region_request(item)
        region_table.complete_region_request(RegionRequestItem("r-1", "img-1"), RequestStatus.SUCCESS)
        before = snapshot(item)
        with pytest.raises(UpdateRegionException):
            region_table.update_region_request(item)
        assert item.attribute_values == before

    def test_complete_region_keeps_the_region_item_current(self, job_table, region_table):
        job_table.start_image_request(JobItem("img-1", region_count=1))
        region = RegionRequestItem("r-1", "img-1")
        region_table.start_region_request(region)
        region = region_table.add_tile("img-1", "r-1", TILE, TileState.FAILED)
        with freeze_time(T0):
            job = complete_region(job_table, region_table, region, RequestStatus.PARTIAL)
        assert job.region_error == 1
        stored = region_table.get_region_request("r-1", "img-1")
        assert held(region) == held(stored)
        assert (region.region_status, region.end_time) == ("PARTIAL", T0_MS)

    def test_complete_region_with_a_stale_copy_still_gives_what_is_stored(self, job_table, region_table):
        job_table.start_image_request(JobItem("img-1", region_count=1))
        region = RegionRequestItem("r-1", "img-1")
        region_table.start_region_request(region)
        region_table.add_tile("img-1", "r-1", TILE, TileState.SUCCEEDED)  # not on the copy
        complete_region(job_table, region_table, region, RequestStatus.SUCCESS)
        assert held(region) == held(region_table.get_region_request("r-1", "img-1"))
        assert region.succeeded_tile_count == 1

    def test_complete_region_on_a_finished_region_gives_what_is_stored(self, job_table, region_table):
        job_table.start_image_request(JobItem("img-1", region_count=1))
        region_table.start_region_request(RegionRequestItem("r-1", "img-1"))
        complete_region(job_table, region_table, RegionRequestItem("r-1", "img-1"), RequestStatus.SUCCESS)
        late = RegionRequestItem("r-1", "img-1")
        job = complete_region(job_table, region_table, late, RequestStatus.FAILED)
        assert (job.region_success, job.region_error) == (1, 0)
        assert late.region_status == "SUCCESS" and late.start_time is not None

    def test_a_stale_copy_still_gives_what_is_stored(self, job_table, region_table):
        job_table.start_image_request(JobItem("img-1", region_count=1))
        copy_ = region_table.start_region_request(RegionRequestItem("r-1", "img-1"))
        region_table.add_tile("img-1", "r-1", TILE, TileState.FAILED)
        complete_region(job_table, region_table, RegionRequestItem("r-1", "img-1"), RequestStatus.FAILED)
        region_table.update_region_request(RegionRequestItem("r-1", "img-1", message="set by another worker"))
        restarted = region_table.start_region_request(copy_)  # the copy knows neither the outcome nor the message
        assert (restarted.message, restarted.region_retry_count) == ("set by another worker", 1)
        assert held(restarted) == held(region_table.get_region_request("r-1", "img-1"))
        region_table.update_region_request(RegionRequestItem("r-1", "img-1", total_tiles=42, tile_format="NITF"))
        complete_region(job_table, region_table, restarted, RequestStatus.SUCCESS)  # a copy from before that
        assert (restarted.total_tiles, restarted.tile_format) == (42, "NITF")
        assert held(restarted) == held(region_table.get_region_request("r-1", "img-1"))


class TestValuesInTheCallersForms:
    def test_tuples_and_decimals_are_stored_as_plain_lists_and_numbers(self, backend, region_table):
        item = RegionRequestItem("r-1", "img-1", "job-1", region_bounds=((0, 0), (Int64(512), Decimal(512))),
                                 tile_size=(256, 256), tile_overlap=(Decimal(16), Int64(16)),
                                 total_tiles=Decimal(4))
        region_table.start_region_request(item)
        raw = backend.raw_item(region_table.table_name, image_id="img-1", region_id="r-1")
        assert raw["tile_size"] == {"L": [{"N": "256"}, {"N": "256"}]}
        assert raw["tile_overlap"] == {"L": [{"N": "16"}, {"N": "16"}]}
        assert raw["total_tiles"] == {"N": "4"}
        loaded = region_table.get_region_request("r-1", "img-1")
        assert (loaded.tile_size, loaded.region_bounds) == ([256, 256], [[0, 0], [512, 512]])
        assert item.tile_size == [256, 256]  # the caller's item now holds what is stored

    def test_tiles_and_states_in_the_callers_forms(self, region_table):
        region_table.start_region_request(RegionRequestItem("r-1", "img-1"))
        tile = ((Int64(0), Decimal(0)), (Int64(256), 256))
        region_table.add_tile("img-1", "r-1", tile, ForeignTileState.SUCCEEDED)
        again = region_table.add_tile("img-1", "r-1", ((0, 0), (256, 256)), TileState.SUCCEEDED)
        assert (again.succeeded_tiles, again.succeeded_tile_count) == ([[[0, 0], [256, 256]]], 1)
        done = region_table.add_tiles("img-1", "r-1", [tile, ((256, 0), (256, 256))], ForeignTileState.FAILED)
        assert done.failed_tile_count == 2

    def test_a_tile_state_is_not_a_status(self, backend, region_table):
        item = region_table.start_region_request(RegionRequestItem("r-1", "img-1"))
        before = backend.raw_item(region_table.table_name, image_id="img-1", region_id="r-1")
        with pytest.raises(InvalidRegionRequestException, match="status"):
            region_table.complete_region_request(item, ForeignTileState.FAILED)
        assert backend.raw_item(region_table.table_name, image_id="img-1", region_id="r-1") == before


class TestItemsThatCannotBeRead:
    def put_raw(self, backend, table_name, item):
        client = botocore.session.get_session().create_client("dynamodb", endpoint_url=backend.host)
        client.put_item(TableName=table_name, Item=item)

    def test_a_region_stored_in_another_form(self, backend, region_table):
        self.put_raw(backend, region_table.table_name, {
            "image_id": {"S": "img-1"}, "region_id": {"S": "r-1"}, "tile_size": {"S": "[256, 256]"}})
        with pytest.raises(GetRegionRequestItemException, match="cannot be read") as raised:
            region_table.get_region_request("r-1", "img-1")
        assert raised.value.__cause__ is not None
        with pytest.raises(GetRegionRequestItemException, match="cannot be read"):
            region_table.list_regions("img-1")
        with pytest.raises(PynamoDBTablesError, match="cannot be read"):
            region_table.add_tile("img-1", "r-1", TILE, TileState.SUCCEEDED)

    def test_a_job_stored_in_another_form(self, backend, job_table):
        self.put_raw(backend, job_table.table_name, {"image_id": {"S": "img-1"}, "region_count": {"S": "three"}})
        with pytest.raises(GetImageRequestItemException, match="cannot be read"):
            job_table.get_image_request("img-1")
