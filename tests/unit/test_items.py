"""Models, status values, errors and table binding: what needs no DynamoDB."""

import enum
import importlib
from types import SimpleNamespace
from unittest import mock

import pytest
from pynamodb.attributes import ListAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UnicodeSetAttribute

import pynamodb_tables
from pynamodb_tables import (
    ConfigurationError,
    ImageAlreadyEndedError,
    ImageRequestExistsError,
    InvalidRegionRequestException,
    InvalidTileError,
    JobItem,
    JobTable,
    PynamoDBTablesError,
    RegionAlreadyCompleteError,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    errors,
    subscribe,
)
from pynamodb_tables.repair import fail_stale

JOB_ATTRIBUTES = {
    "image_id": UnicodeAttribute, "job_id": UnicodeAttribute, "image_url": UnicodeAttribute,
    "image_read_role": UnicodeAttribute, "model_invoke_mode": UnicodeAttribute, "start_time": NumberAttribute,
    "expire_time": TTLAttribute, "end_time": NumberAttribute, "region_success": NumberAttribute,
    "region_error": NumberAttribute, "region_count": NumberAttribute, "width": NumberAttribute,
    "height": NumberAttribute, "extents": UnicodeAttribute, "tile_size": UnicodeAttribute,
    "tile_overlap": UnicodeAttribute, "model_name": UnicodeAttribute, "outputs": UnicodeAttribute,
    "processing_duration": NumberAttribute, "feature_properties": UnicodeAttribute,
    "feature_distillation_option": UnicodeAttribute, "roi_wkt": UnicodeAttribute,
}
REGION_ATTRIBUTES = {
    "region_id": UnicodeAttribute, "image_id": UnicodeAttribute, "job_id": UnicodeAttribute,
    "start_time": NumberAttribute, "last_updated_time": NumberAttribute, "end_time": NumberAttribute,
    "expire_time": TTLAttribute, "image_read_role": UnicodeAttribute, "processing_duration": NumberAttribute,
    "message": UnicodeAttribute, "region_status": UnicodeAttribute, "total_tiles": NumberAttribute,
    "failed_tiles": ListAttribute, "failed_tile_count": NumberAttribute, "succeeded_tiles": ListAttribute,
    "succeeded_tile_count": NumberAttribute, "region_bounds": ListAttribute, "region_retry_count": NumberAttribute,
    "tile_compression": UnicodeAttribute, "tile_format": UnicodeAttribute, "tile_overlap": ListAttribute,
    "tile_size": ListAttribute,
}


@pytest.mark.parametrize(("model", "expected"), [(JobItem, JOB_ATTRIBUTES), (RegionRequestItem, REGION_ATTRIBUTES)])
def test_models_have_exactly_the_seed_attributes(model, expected):
    """The seed's attributes, and beside them only the job's record of the regions it counted (never the
    seed's positional arguments: ``seed_order``)."""
    attributes = model.get_attributes()
    extra = {"region_success_ids", "region_error_ids"} if model is JobItem else set()
    assert set(attributes) == set(expected) | extra
    assert set(model.seed_order) == set(expected)
    for name in extra:
        assert isinstance(attributes[name], UnicodeSetAttribute), name
    for name, kind in expected.items():
        assert isinstance(attributes[name], kind), name


def test_keys_and_typed_lists():
    assert JobItem.image_id.is_hash_key
    assert RegionRequestItem.image_id.is_hash_key and RegionRequestItem.region_id.is_range_key
    tiles = RegionRequestItem.get_attributes()["succeeded_tiles"]
    assert tiles.serialize([[[1, 2], [3, 4]]]) == [
        {"L": [{"L": [{"N": "1"}, {"N": "2"}]}, {"L": [{"N": "3"}, {"N": "4"}]}]}]
    assert tiles.deserialize(tiles.serialize([[[1, 2], [3, 4]]])) == [[[1, 2], [3, 4]]]
    assert tiles.element_type.__name__ == "BoxAttribute"


def test_items_built_with_keywords():
    assert JobItem(image_id="i", job_id="j").job_id == "j"
    assert RegionRequestItem(region_id="r", image_id="i").region_id == "r"


def test_from_image_request_reads_plain_objects():
    class Mode(enum.Enum):
        SM_ENDPOINT = "SM_ENDPOINT"

    request = SimpleNamespace(
        image_id="img", job_id="job", image_url="s3://b/i.tif", image_read_role="arn:role", model_name="m",
        model_invoke_mode=Mode.SM_ENDPOINT, tile_size=(512, 512), tile_overlap=(32, 32),
        outputs=[{"type": "S3", "bucket": "b"}], feature_properties=[], feature_distillation_option={"algo": "NMS"},
        roi=SimpleNamespace(wkt="POLYGON ((0 0, 1 0, 1 1, 0 0))"), unrelated="ignored",
    )
    item = JobItem.from_image_request(request)
    assert (item.image_id, item.job_id, item.model_invoke_mode) == ("img", "job", "SM_ENDPOINT")
    assert (item.tile_size, item.tile_overlap) == ("(512, 512)", "(32, 32)")  # str() of a tuple, as the seed
    assert item.outputs == '[{"type": "S3", "bucket": "b"}]'
    assert item.feature_distillation_option == '{"algo": "NMS"}'
    assert item.roi_wkt == "POLYGON ((0 0, 1 0, 1 1, 0 0))"
    assert item.start_time is None and item.region_count is None


def test_from_region_request_reads_plain_objects():
    request = SimpleNamespace(
        region_id="(0, 0)(512, 512)-abc", image_id="img", job_id="job", image_read_role="arn:role",
        region_bounds=((0, 0), (512, 512)), tile_size=(256, 256), tile_overlap=(16, 16),
        tile_format="NITF", tile_compression="J2K",
    )
    item = RegionRequestItem.from_region_request(request)
    assert item.region_bounds == [[0, 0], [512, 512]]
    assert (item.tile_size, item.tile_overlap) == ([256, 256], [16, 16])
    assert (item.tile_format, item.tile_compression, item.region_status) == ("NITF", "J2K", None)


def test_status_values():
    assert [s.value for s in RequestStatus] == ["STARTED", "IN_PROGRESS", "PARTIAL", "SUCCESS", "FAILED"]
    assert {s for s in RequestStatus if s.is_terminal} == {
        RequestStatus.SUCCESS, RequestStatus.PARTIAL, RequestStatus.FAILED}
    assert RequestStatus.SUCCESS == "SUCCESS"
    assert (TileState.SUCCEEDED.value, TileState.FAILED.value) == ("succeeded", "failed")


def test_every_error_derives_from_the_base_and_the_contract_pairs_hold():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert all(issubclass(c, PynamoDBTablesError) for c in classes)
    assert issubclass(ImageRequestExistsError, pynamodb_tables.StartImageException)
    assert issubclass(ImageAlreadyEndedError, pynamodb_tables.EndImageException)
    assert issubclass(RegionAlreadyCompleteError, pynamodb_tables.StartRegionException)
    assert issubclass(RegionAlreadyCompleteError, pynamodb_tables.CompleteRegionException)
    assert issubclass(InvalidTileError, pynamodb_tables.UpdateRegionException)
    assert issubclass(InvalidRegionRequestException, ValueError)
    error = pynamodb_tables.EndImageException("boom", operation="end_image_request", table="jobs",
                                              key={"image_id": "i"})
    assert str(error) == "end_image_request on table 'jobs' for image_id='i': boom"


@pytest.mark.parametrize("module", ["pynamodb_tables", "pynamodb_tables.job_table",
                                    "pynamodb_tables.region_request_table"])
def test_public_names_importable_like_the_seeds(module):
    names = {"pynamodb_tables.job_table": ["JobItem", "JobTable"],
             "pynamodb_tables.region_request_table": ["RegionRequestItem", "RegionRequestTable"]}
    imported = importlib.import_module(module)
    for name in names.get(module, pynamodb_tables.__all__):
        assert hasattr(imported, name), name


class TestTableBinding:
    def test_name_from_argument_or_environment(self, monkeypatch):
        monkeypatch.setenv("JOB_TABLE", "jobs-env")
        monkeypatch.setenv("REGION_REQUEST_TABLE", "regions-env")
        assert JobTable().table_name == "jobs-env"
        assert RegionRequestTable().table_name == "regions-env"
        assert JobTable("explicit").table_name == "explicit"

    def test_missing_or_invalid_name(self):
        with pytest.raises(ConfigurationError, match="JOB_TABLE"):
            JobTable()
        with pytest.raises(ConfigurationError, match="REGION_REQUEST_TABLE"):
            RegionRequestTable()
        for bad in ("ab", "", "has space", "x" * 256, mock.NonCallableMagicMock(spec=str)):
            with pytest.raises(ConfigurationError, match="invalid table name"):  # (a mock standing for a str too:
                JobTable(bad)  # the model runner v3's tests give one)

    def test_names_side_by_side(self):
        first, second = JobTable("jobs-a"), JobTable("jobs-b", host="http://localhost:1", region="eu-west-1")
        assert first.model.Meta.table_name == "jobs-a" and second.model.Meta.table_name == "jobs-b"
        assert (second.model.Meta.host, second.model.Meta.region) == ("http://localhost:1", "eu-west-1")
        assert JobTable("jobs-a").model is first.model
        assert issubclass(first.model, JobItem) and first.model is not second.model

    def test_endpoint_follows_botocore_conventions(self, monkeypatch):
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
        table = JobTable("jobs-endpoint")
        assert (table.host, table.region) == ("http://127.0.0.1:9", "ap-south-1")  # resolved when made
        for client in table.clients():
            assert (client.meta.endpoint_url, client.meta.region_name) == ("http://127.0.0.1:9", "ap-south-1")
        monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:10")
        assert JobTable("jobs-endpoint").host == "http://127.0.0.1:10"  # the global one, after the service's
        monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
        assert JobTable("jobs-endpoint").host is None  # AWS's own endpoint for the region

    @pytest.mark.parametrize(("keywords", "fragment"), [
        ({"host": "127.0.0.1:8000"}, "host must be an endpoint URL"),
        ({"host": 5}, "host must be an endpoint URL"),
        ({"region": 5}, "region must be an AWS region name"),
        ({"region": ""}, "region must be an AWS region name"),
        ({"max_retry_attempts": -1}, "max_retry_attempts must be an int of at least 0"),
        ({"read_timeout_seconds": 10**400}, "read_timeout_seconds must be a number of seconds"),
    ])
    def test_bad_endpoint_region_or_settings_fail_at_construction(self, keywords, fragment):
        for table_class in (JobTable, RegionRequestTable):
            with pytest.raises(ConfigurationError, match=fragment) as raised:
                table_class("jobs-bad", **keywords)
            assert isinstance(raised.value, PynamoDBTablesError) and isinstance(raised.value, ValueError)

    @pytest.mark.parametrize("call", [
        lambda: RegionRequestTable("regions-bad", tile_flush_seconds=10**400),
        lambda: TileRecorder(RegionRequestTable("regions-bad"), "img", "r", flush_interval=10**400),
        lambda: fail_stale(JobTable("jobs-bad"), RegionRequestTable("regions-bad"), ["img"], 10**400),
        lambda: RegionRequestTable("regions-bad").record_tiles("img", "r", [[[0, 0], [16, 16]]]),
        lambda: subscribe(5),
    ], ids=["tile_flush_seconds", "flush_interval", "older_than_s", "record_tiles list", "subscribe"])
    def test_bad_input_is_the_packages_error_naming_it_before_any_request(self, call):
        """(No table exists and nothing is mocked: a request would fail otherwise.)"""
        with pytest.raises(PynamoDBTablesError) as raised:
            call()
        assert any(name in str(raised.value) for name in (
            "tile_flush_seconds", "flush_interval", "older_than_s", "tiles by state", "listener"))
        assert "characters)" in str(raised.value) or "10**400" not in str(raised.value)

    @pytest.mark.parametrize("days", ["zero", "0", "-1", "nan", "inf", "-inf", "1e308", "1e10", "36501"])
    def test_bad_ttl_days(self, monkeypatch, days):
        from pynamodb_tables import clock
        monkeypatch.setenv("DDB_TTL_IN_DAYS", days)
        with pytest.raises(ConfigurationError, match="DDB_TTL_IN_DAYS"):
            clock.expire_time(0)
