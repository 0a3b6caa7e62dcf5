"""The contract's JobTable rows, on moto and on DynamoDB Local, with a frozen clock."""

from datetime import timedelta

import pytest
from freezegun import freeze_time

from pynamodb_tables import (
    CompleteRegionException,
    ConfigurationError,
    EndImageException,
    GetImageRequestItemException,
    ImageAlreadyEndedError,
    ImageRequestExistsError,
    ImageRequestItem,
    ImageRequestTable,
    InvalidRequestError,
    IsImageCompleteException,
    JobItem,
    JobTable,
    PynamoDBTablesError,
    RegionRequestItem,
    StartImageException,
    UpdateImageException,
)
from tests.support.backends import T0, T0_MS

DAY_S = 86_400


def start(job_table: JobTable, image_id: str = "img-1", **attrs: object) -> JobItem:
    return job_table.start_image_request(JobItem(image_id=image_id, job_id="job-1", **attrs))


class TestStartImageRequest:
    def test_sets_times_and_zeroed_counters(self, backend, job_table):
        with freeze_time(T0):
            item = start(job_table, region_count=4, image_url="s3://b/k.tif", width=10, height=20)
        assert item.start_time == T0_MS
        assert item.expire_time.timestamp() == T0_MS // 1000 + DAY_S
        assert (item.processing_duration, item.region_success, item.region_error) == (0, 0, 0)
        assert (item.region_count, item.image_url, item.width, item.height) == (4, "s3://b/k.tif", 10, 20)
        assert item.end_time is None
        raw = backend.raw_item(job_table.table_name, image_id="img-1")
        assert raw["start_time"] == {"N": str(T0_MS)}
        assert raw["expire_time"] == {"N": str(T0_MS // 1000 + DAY_S)}
        assert raw["region_success"] == {"N": "0"} and raw["region_error"] == {"N": "0"}

    def test_ttl_days_from_environment(self, job_table, monkeypatch):
        monkeypatch.setenv("DDB_TTL_IN_DAYS", "3")
        with freeze_time(T0):
            item = start(job_table)
        assert item.expire_time.timestamp() == T0_MS // 1000 + 3 * DAY_S

    def test_second_start_changes_nothing_and_carries_stored_item(self, backend, job_table):
        with freeze_time(T0) as clock:
            start(job_table, region_count=4)
            job_table.complete_region_request("img-1", error=False)
            before = backend.raw_item(job_table.table_name, image_id="img-1")
            clock.tick(timedelta(seconds=30))
            with pytest.raises(ImageRequestExistsError) as raised:
                job_table.start_image_request(JobItem(image_id="img-1", job_id="other", region_count=9))
        assert isinstance(raised.value, StartImageException)
        assert raised.value.item.job_id == "job-1" and raised.value.item.region_success == 1
        assert raised.value.__cause__ is not None
        assert backend.raw_item(job_table.table_name, image_id="img-1") == before

    def test_a_running_image_started_again_by_its_job_is_a_new_attempt(self, backend, job_table):
        """(The model runner's next version retries a stalled image; a queue may deliver a message twice.)"""
        with freeze_time(T0) as clock:
            start(job_table, region_count=4)
            job_table.complete_region_request("img-1", error=False)
            before = backend.raw_item(job_table.table_name, image_id="img-1")
            clock.tick(timedelta(seconds=30))
            again = JobItem(image_id="img-1", job_id="job-1", region_count=9, model_name="other")
            returned = job_table.start_image_request(again)
        assert backend.raw_item(job_table.table_name, image_id="img-1") == before  # nothing changes
        assert (returned.start_time, returned.region_count, returned.region_success) == (T0_MS, 4, 1)
        assert (again.start_time, again.region_count, again.model_name) == (T0_MS, 4, None)  # the stored job, copied

    def test_an_ended_image_started_again_is_refused(self, backend, job_table):
        start(job_table, region_count=1)
        job_table.end_image_request("img-1")
        before = backend.raw_item(job_table.table_name, image_id="img-1")
        with pytest.raises(ImageRequestExistsError, match="ended") as raised:
            job_table.start_image_request(JobItem(image_id="img-1", job_id="job-1"))
        assert raised.value.item.end_time is not None
        assert backend.raw_item(job_table.table_name, image_id="img-1") == before

    def test_end_time_on_the_item_is_not_written(self, job_table):
        item = start(job_table, end_time=123)
        assert item.end_time is None


class TestCompleteRegionRequest:
    def test_counts_successes_and_errors(self, job_table):
        start(job_table, region_count=3)
        job_table.complete_region_request("img-1", error=False)
        job_table.complete_region_request("img-1", error=True)
        item = job_table.complete_region_request("img-1", error=False)
        assert (item.region_success, item.region_error) == (2, 1)
        assert job_table.get_image_request("img-1").region_success == 2

    def test_unknown_image_raises_and_creates_nothing(self, backend, job_table):
        with pytest.raises(CompleteRegionException) as raised:
            job_table.complete_region_request("missing", error=False)
        assert "missing" in str(raised.value) and job_table.table_name in str(raised.value)
        assert raised.value.__cause__ is not None
        assert backend.raw_item(job_table.table_name, image_id="missing") is None

    def test_error_must_be_a_bool(self, backend, job_table):
        start(job_table)
        with pytest.raises(InvalidRequestError, match="error must be a bool"):
            job_table.complete_region_request("img-1", error="yes")  # type: ignore[arg-type]
        assert job_table.get_image_request("img-1").region_error == 0


class TestIsImageRequestComplete:
    @pytest.mark.parametrize(("success", "error", "count", "expected"), [
        (0, 0, 2, False), (1, 0, 2, False), (1, 1, 2, True), (2, 0, 2, True), (3, 0, 2, True), (0, 0, 0, True),
    ])
    def test_compares_outcomes_to_region_count(self, success, error, count, expected):
        item = JobItem(image_id="i", region_success=success, region_error=error, region_count=count)
        assert JobTable.is_image_request_complete(item) is expected

    @pytest.mark.parametrize("unset", ["region_success", "region_error", "region_count"])
    def test_any_unset_count_raises(self, unset):
        values = {"region_success": 1, "region_error": 1, "region_count": 2}
        del values[unset]
        with pytest.raises(IsImageCompleteException, match=unset):
            JobTable.is_image_request_complete(JobItem(image_id="i", **values))


class TestEndImageRequest:
    def test_sets_end_time_and_duration(self, backend, job_table):
        with freeze_time(T0) as clock:
            start(job_table)
            clock.tick(timedelta(seconds=75, milliseconds=600))
            item = job_table.end_image_request("img-1")
        assert item.end_time == T0_MS + 75_600
        assert item.processing_duration == 75
        assert backend.raw_item(job_table.table_name, image_id="img-1")["end_time"] == {"N": str(T0_MS + 75_600)}

    def test_only_the_first_caller_ends_the_job(self, job_table):
        with freeze_time(T0) as clock:
            start(job_table)
            clock.tick(timedelta(seconds=10))
            first = job_table.end_image_request("img-1")
            clock.tick(timedelta(seconds=10))
            with pytest.raises(ImageAlreadyEndedError) as raised:
                job_table.end_image_request("img-1")
        assert isinstance(raised.value, EndImageException)
        assert raised.value.item.end_time == first.end_time == T0_MS + 10_000
        assert job_table.get_image_request("img-1").end_time == T0_MS + 10_000

    def test_unknown_image(self, backend, job_table):
        with pytest.raises(EndImageException) as raised:
            job_table.end_image_request("missing")
        assert not isinstance(raised.value, ImageAlreadyEndedError)
        assert backend.raw_item(job_table.table_name, image_id="missing") is None


class TestGetImageRequest:
    def test_returns_stored_item(self, job_table):
        start(job_table, model_name="m")
        assert job_table.get_image_request("img-1").model_name == "m"

    def test_unknown_image(self, job_table):
        with pytest.raises(GetImageRequestItemException, match="missing"):
            job_table.get_image_request("missing")


class TestUpdateImageRequest:
    def test_writes_attributes_and_refreshes_duration(self, job_table):
        with freeze_time(T0) as clock:
            item = start(job_table)
            clock.tick(timedelta(seconds=42))
            item.region_count = 7
            item.extents = "[0, 0, 10, 10]"
            updated = job_table.update_image_request(item)
        assert (updated.region_count, updated.extents, updated.processing_duration) == (7, "[0, 0, 10, 10]", 42)
        assert job_table.get_image_request("img-1").region_count == 7

    def test_bare_item_refreshes_duration_from_stored_start(self, job_table):
        with freeze_time(T0) as clock:
            start(job_table)
            clock.tick(timedelta(seconds=5))
            updated = job_table.update_image_request(JobItem(image_id="img-1", region_count=2))
        assert (updated.region_count, updated.processing_duration, updated.job_id) == (2, 5, "job-1")

    def test_stale_copy_never_rolls_counters_back(self, job_table):
        stale = start(job_table, region_count=5)
        job_table.complete_region_request("img-1", error=False)
        job_table.complete_region_request("img-1", error=True)
        stale.region_count = 6
        updated = job_table.update_image_request(stale)
        assert (updated.region_success, updated.region_error, updated.region_count) == (1, 1, 6)

    def test_ended_job_keeps_end_time_and_duration(self, job_table):
        with freeze_time(T0) as clock:
            start(job_table)
            clock.tick(timedelta(seconds=3))
            ended = job_table.end_image_request("img-1")
            clock.tick(timedelta(seconds=100))
            ended.end_time = 1
            ended.outputs = "done"
            updated = job_table.update_image_request(ended)
        assert (updated.end_time, updated.processing_duration, updated.outputs) == (T0_MS + 3000, 3, "done")

    def test_unknown_image_raises_and_creates_nothing(self, backend, job_table):
        with pytest.raises(UpdateImageException):
            job_table.update_image_request(JobItem(image_id="missing", region_count=1, start_time=T0_MS))
        with pytest.raises(UpdateImageException):
            job_table.update_image_request(JobItem(image_id="missing", region_count=1))
        assert backend.raw_item(job_table.table_name, image_id="missing") is None


def test_processing_duration_is_whole_seconds_since_start():
    with freeze_time(T0):
        assert JobTable.get_processing_duration(T0_MS - 1_999) == 1
        assert JobTable.get_processing_duration(T0_MS - 2_000) == 2
        assert JobTable.get_processing_duration(T0_MS) == 0
    with pytest.raises(InvalidRequestError):
        JobTable.get_processing_duration("1")  # type: ignore[arg-type]


class TestBadInput:
    @pytest.mark.parametrize(("item", "complaint"), [
        (JobItem(image_id=""), "image_id"),
        (JobItem(image_id="   "), "image_id"),
        (JobItem(job_id="j"), "image_id"),
        (JobItem(image_id=5), "image_id"),
        (JobItem(image_id="i", region_count="4"), "region_count"),
        (JobItem(image_id="i", region_count=True), "region_count"),
        (JobItem(image_id="i", width=1.5), "width"),
        (JobItem(image_id="i", model_name=3), "model_name"),
        (JobItem(image_id="img-\ud800"), "UTF-8"),
        (JobItem(image_id="i" * 2049), "2049 bytes"),
        (JobItem(image_id="i", roi_wkt="POLYGON \udfff"), "roi_wkt"),
        ("not an item", "JobItem"),
    ])
    def test_rejected_before_any_write(self, backend, job_table, item, complaint):
        for call in (job_table.start_image_request, job_table.update_image_request):
            with pytest.raises(InvalidRequestError, match=complaint) as raised:
                call(item)
            assert isinstance(raised.value, (PynamoDBTablesError, ValueError))
        assert backend.item_count(job_table.table_name) == 0

    def test_ids_differing_only_in_lone_surrogates_are_refused(self, backend, job_table):
        for image_id in ("img-\ud800", "img-\udc00"):
            with pytest.raises(InvalidRequestError, match="UTF-8"):
                job_table.start_image_request(JobItem(image_id=image_id))
            with pytest.raises(InvalidRequestError, match="UTF-8"):
                job_table.get_image_request(image_id)
        assert backend.item_count(job_table.table_name) == 0

    @pytest.mark.parametrize("days", ["nan", "inf", "1e308", "1e10", "-1"])
    def test_bad_ttl_days_fail_before_any_write(self, backend, job_table, region_table, monkeypatch, days):
        monkeypatch.setenv("DDB_TTL_IN_DAYS", days)
        with pytest.raises(ConfigurationError, match="DDB_TTL_IN_DAYS"):
            job_table.start_image_request(JobItem(image_id="img-1"))
        with pytest.raises(ConfigurationError, match="DDB_TTL_IN_DAYS"):
            region_table.start_region_request(RegionRequestItem("r-1", "img-1"))
        assert backend.item_count(job_table.table_name) == backend.item_count(region_table.table_name) == 0

    @pytest.mark.parametrize("image_id", ["", None, 7])
    def test_keys_checked_by_every_method(self, job_table, image_id):
        for call in (job_table.end_image_request, job_table.get_image_request):
            with pytest.raises(InvalidRequestError, match="image_id"):
                call(image_id)
        with pytest.raises(InvalidRequestError, match="image_id"):
            job_table.complete_region_request(image_id, error=False)


class TestTheModelRunnerV3Names:
    """``ImageRequestTable`` and ``ImageRequestItem``: the job table and item under v3's names."""

    def test_the_same_table_both_ways(self, backend, job_table, monkeypatch):
        monkeypatch.setenv("IMAGE_REQUEST_TABLE", job_table.table_name)
        images = ImageRequestTable(host=backend.host)
        assert images.table_name == job_table.table_name and ImageRequestItem is JobItem
        images.start_image_request(ImageRequestItem(image_id="img-v3", job_id="job-1", region_count=1))
        job_table.complete_region_request("img-v3", error=False)  # a 2.3.0 worker, on the same table
        assert images.is_image_request_complete(images.get_image_request("img-v3"))
        assert job_table.end_image_request("img-v3").end_time is not None

    def test_a_table_name_is_needed(self, monkeypatch):
        monkeypatch.delenv("IMAGE_REQUEST_TABLE", raising=False)
        monkeypatch.setenv("JOB_TABLE", "jobs")  # (2.3.0's variable names the job table, not v3's)
        with pytest.raises(ConfigurationError, match="IMAGE_REQUEST_TABLE"):
            ImageRequestTable()
