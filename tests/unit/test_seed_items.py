"""The contract's "Items" section without DynamoDB: seed-order construction and value normalisation."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from pynamodb_tables import (
    InvalidRegionRequestException,
    InvalidRequestError,
    InvalidTileError,
    IsImageCompleteException,
    JobItem,
    JobTable,
    RegionRequestItem,
    RequestStatus,
    TileState,
    validation,
)
from pynamodb_tables.validation import region_values
from tests.support.seed_forms import MODEL_RUNNER_ATTRIBUTE_ORDER, ForeignRequestStatus, ForeignTileState, Int64


class TestSeedOrder:
    def test_positional_order_is_the_seed_documents(self):
        order = MODEL_RUNNER_ATTRIBUTE_ORDER
        assert list(JobItem.seed_order) == order["JobItem"]
        assert list(RegionRequestItem.seed_order) == order["RegionRequestItem"]

    def test_region_positional_arguments_follow_the_seed(self):
        item = RegionRequestItem("r-1", "img-1", "job-1")
        assert (item.region_id, item.image_id, item.job_id) == ("r-1", "img-1", "job-1")
        every = RegionRequestItem(*[None] * len(RegionRequestItem.seed_order))
        assert every.region_id is None

    def test_job_positional_arguments_follow_the_seed(self):
        item = JobItem("img-1", "job-1", "s3://bucket/image.tif")
        assert (item.image_id, item.job_id, item.image_url) == ("img-1", "job-1", "s3://bucket/image.tif")

    def test_keywords_and_pynamodb_keys_still_work(self):
        assert RegionRequestItem(region_id="r", image_id="i").image_id == "i"
        item = RegionRequestItem(hash_key="i", range_key="r", job_id="j")
        assert (item.image_id, item.region_id, item.job_id) == ("i", "r", "j")
        assert JobItem(hash_key="i").image_id == "i"

    def test_too_many_or_repeated_arguments(self):
        with pytest.raises(TypeError, match="at most 22 positional"):
            JobItem(*range(23))
        with pytest.raises(TypeError, match="multiple values for 'image_id'"):
            RegionRequestItem("r", "i", image_id="other")


class TestNormalisation:
    def test_region_values_in_the_callers_forms(self):
        item = RegionRequestItem(
            "r-1", "img-1", "job-1", region_bounds=((Int64(0), Decimal(0)), (512, Int64(512))),
            tile_size=(256, 256), tile_overlap=(Decimal("16"), 16), total_tiles=Decimal(4),
            region_status=ForeignRequestStatus.IN_PROGRESS, succeeded_tiles=(((0, 0), (256, 256)),))
        values = region_values(item)
        assert values["region_bounds"] == [[0, 0], [512, 512]]
        assert (values["tile_size"], values["tile_overlap"]) == ([256, 256], [16, 16])
        assert values["succeeded_tiles"] == [[[0, 0], [256, 256]]]
        assert values["total_tiles"] == 4 and type(values["total_tiles"]) is int
        assert values["region_status"] == "IN_PROGRESS" and type(values["region_status"]) is str
        assert all(type(v) is int for pair in values["region_bounds"] for v in pair)
        assert item.tile_size == (256, 256)  # the caller's item is not changed by checking it

    @pytest.mark.parametrize(("attrs", "complaint"), [
        ({"tile_size": (256.0, 256)}, "tile_size"),
        ({"total_tiles": Decimal("4.5")}, "total_tiles"),
        ({"total_tiles": True}, "total_tiles"),
        ({"total_tiles": 10**38}, "too large"),
        ({"region_status": ForeignTileState.FAILED}, "status"),
        ({"region_status": TileState.SUCCEEDED}, "status"),
        ({"message": b"bytes"}, "message"),
        ({"message": "lone \udc80 surrogate"}, "UTF-8"),
        ({"region_id": "r\ud800"}, "UTF-8"),
        ({"region_id": "r" * 1025}, "1025 bytes"),
        ({"image_id": "i" * 2049}, "2049 bytes"),
    ])
    def test_anything_else_is_refused_naming_it(self, attrs, complaint):
        with pytest.raises(InvalidRegionRequestException, match=complaint):
            region_values(RegionRequestItem(**{"region_id": "r", "image_id": "i", **attrs}))

    def test_expire_time_as_epoch_seconds(self):
        values = region_values(RegionRequestItem("r", "i", expire_time=Decimal(1_900_000_000)))
        assert values["expire_time"] == datetime.fromtimestamp(1_900_000_000, tz=timezone.utc)

    def test_statuses_and_tile_states_from_foreign_enums(self):
        assert validation.status(ForeignRequestStatus.PARTIAL) is RequestStatus.PARTIAL
        assert validation.tile_state(ForeignTileState.FAILED) is TileState.FAILED
        with pytest.raises(InvalidRequestError, match="tile state"):
            validation.tile_state(ForeignRequestStatus.FAILED)
        with pytest.raises(InvalidRequestError, match="status"):
            validation.status(ForeignTileState.SUCCEEDED)

    def test_tiles_in_the_callers_forms(self):
        assert validation.tile(((Int64(0), Decimal(256)), (256, 256))) == [[0, 256], [256, 256]]
        with pytest.raises(InvalidTileError):
            validation.tile(((0, 0), (256, Decimal("0.5"))))


class TestIsImageRequestComplete:
    def test_decimal_counts_as_read_back_from_dynamodb(self):
        item = JobItem("img", region_success=Decimal(2), region_error=Decimal(1), region_count=Decimal(3))
        assert JobTable.is_image_request_complete(item) is True
        item.region_error = Decimal(0)
        assert JobTable.is_image_request_complete(item) is False

    def test_no_image_id_needed(self):
        assert JobTable.is_image_request_complete(JobItem(region_success=1, region_error=0, region_count=1))

    def test_unusable_counts(self):
        with pytest.raises(InvalidRequestError, match="region_count"):
            JobTable.is_image_request_complete(JobItem("img", region_success=1, region_error=0, region_count="3"))
        with pytest.raises(IsImageCompleteException, match="region_error"):
            JobTable.is_image_request_complete(JobItem("img", region_success=1, region_count=3))
