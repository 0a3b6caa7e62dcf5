"""The contract's "Across both tables" section: complete_region, on moto and DynamoDB Local."""

import contextlib

import pytest
from freezegun import freeze_time

from pynamodb_tables import (
    CompleteRegionException,
    InvalidRegionRequestException,
    InvalidRequestError,
    JobItem,
    RegionRequestItem,
    RequestStatus,
    TileRecorder,
    TileState,
    complete_region,
)
from tests.support.backends import T0, T0_MS

TILE = [[0, 0], [256, 256]]


def recorder_complete(job_table, region_table, region_item, region_status):
    """The same completion through a TileRecorder given the region (``recorder.complete``)."""
    recorder = TileRecorder(region_table, region_item.image_id, region_item.region_id, region=region_item)
    return recorder.complete(job_table, region_status)


@pytest.fixture(params=[complete_region, recorder_complete], ids=["complete_region", "recorder.complete"])
def complete(request):
    """Every guarantee of this module holds for both ways of completing a region."""
    return request.param


@pytest.fixture
def job(job_table):
    return job_table.start_image_request(JobItem(image_id="img-1", job_id="job-1", region_count=3))


def start(region_table, region_id="r-1"):
    return region_table.start_region_request(RegionRequestItem(image_id="img-1", region_id=region_id))


def counts(job_table):
    item = job_table.get_image_request("img-1")
    return item.region_success, item.region_error


@pytest.mark.parametrize(("outcome", "expected"), [
    (RequestStatus.SUCCESS, (1, 0)), (RequestStatus.PARTIAL, (0, 1)),
    (RequestStatus.FAILED, (0, 1)), ("SUCCESS", (1, 0)),
])
def test_outcome_and_count_land_together(complete, job_table, region_table, job, outcome, expected):
    with freeze_time(T0):
        item = start(region_table)
        returned = complete(job_table, region_table, item, outcome)
    assert (returned.region_success, returned.region_error) == expected == counts(job_table)
    assert returned.region_count == 3 and returned.job_id == "job-1"
    stored = region_table.get_region_request("r-1", "img-1")
    assert stored.region_status == RequestStatus(outcome).value and stored.end_time == T0_MS


def test_a_region_is_counted_once(complete, backend, job_table, region_table, job):
    item = start(region_table)
    complete(job_table, region_table, item, RequestStatus.SUCCESS)
    region_before = backend.raw_item(region_table.table_name, image_id="img-1", region_id="r-1")
    for outcome in (RequestStatus.SUCCESS, RequestStatus.FAILED, RequestStatus.PARTIAL):
        again = complete(job_table, region_table, item, outcome)
        assert (again.region_success, again.region_error) == (1, 0)
    assert counts(job_table) == (1, 0)
    assert backend.raw_item(region_table.table_name, image_id="img-1", region_id="r-1") == region_before


def test_redrive_failed_then_success_moves_the_count(complete, job_table, region_table, job):
    item = start(region_table)
    region_table.add_tile("img-1", "r-1", TILE, TileState.SUCCEEDED)
    region_table.add_tile("img-1", "r-1", [[256, 0], [256, 256]], TileState.FAILED)
    assert (complete(job_table, region_table, item, "FAILED").region_error) == 1
    redriven = start(region_table)
    assert redriven.region_retry_count == 1 and redriven.succeeded_tiles == [TILE] and redriven.failed_tiles == []
    assert counts(job_table) == (0, 1)  # the earlier outcome stays counted while the region reruns
    job_after = complete(job_table, region_table, redriven, RequestStatus.SUCCESS)
    assert (job_after.region_success, job_after.region_error) == (1, 0)


def test_redrive_failed_then_failed_again_counts_one_error(complete, job_table, region_table, job):
    item = start(region_table)
    complete(job_table, region_table, item, RequestStatus.FAILED)
    complete(job_table, region_table, start(region_table), RequestStatus.PARTIAL)
    complete(job_table, region_table, start(region_table), RequestStatus.FAILED)
    assert counts(job_table) == (0, 1)
    assert region_table.get_region_request("r-1", "img-1").region_retry_count == 2


def test_crashed_region_restarted_is_counted_once(complete, job_table, region_table, job):
    start(region_table)  # a worker crashes here, before completing
    restarted = start(region_table)
    complete(job_table, region_table, restarted, RequestStatus.SUCCESS)
    assert counts(job_table) == (1, 0)


def test_outcomes_never_exceed_regions_seen(complete, job_table, region_table, job):
    regions = [start(region_table, f"r-{n}") for n in range(3)]
    for _ in range(2):
        for n, item in enumerate(regions):
            complete(job_table, region_table, item, RequestStatus.FAILED if n == 0 else RequestStatus.SUCCESS)
    complete(job_table, region_table, start(region_table, "r-0"), RequestStatus.SUCCESS)
    final = job_table.get_image_request("img-1")
    assert (final.region_success, final.region_error) == (3, 0)
    assert job_table.is_image_request_complete(final)


def test_unknown_job_leaves_the_region_running(complete, backend, job_table, region_table):
    item = start(region_table)
    before = backend.raw_item(region_table.table_name, image_id="img-1", region_id="r-1")
    with pytest.raises(CompleteRegionException, match="unknown image") as raised:
        complete(job_table, region_table, item, RequestStatus.SUCCESS)
    assert raised.value.__cause__ is not None
    assert backend.raw_item(region_table.table_name, image_id="img-1", region_id="r-1") == before
    assert backend.raw_item(job_table.table_name, image_id="img-1") is None


def test_unknown_region_counts_nothing(complete, backend, job_table, region_table, job):
    with pytest.raises(CompleteRegionException, match="unknown region"):
        complete(job_table, region_table, RegionRequestItem(image_id="img-1", region_id="r-9"), "SUCCESS")
    assert counts(job_table) == (0, 0)
    assert backend.raw_item(region_table.table_name, image_id="img-1", region_id="r-9") is None


@pytest.mark.parametrize("status", ["STARTED", "DONE", None])
def test_bad_status_writes_nothing(complete, job_table, region_table, job, status):
    item = start(region_table)
    with pytest.raises(InvalidRegionRequestException):
        complete(job_table, region_table, item, status)
    assert counts(job_table) == (0, 0)
    assert region_table.get_region_request("r-1", "img-1").region_status == "STARTED"


def test_tables_must_be_tables(complete, job_table, region_table):
    with pytest.raises(InvalidRequestError):
        complete(region_table, job_table, RegionRequestItem(image_id="i", region_id="r"), "SUCCESS")


def test_a_region_whose_error_the_job_never_counted_never_drives_a_counter_below_zero(
        complete, job_table, region_table, job):
    """A worker finished the region with the seed's region call only, then died before the job call: the
    job counts nothing for it. Restarted and completed ``SUCCESS``, the completion may not take back an
    error the job never counted."""
    region = start(region_table)
    region_table.complete_region_request(region, RequestStatus.FAILED)  # (the job call never made)
    restarted = region_table.start_region_request(region_table.get_region_request("r-1", "img-1"))
    with contextlib.suppress(CompleteRegionException):  # (refused: the earlier outcome is not counted)
        complete(job_table, region_table, restarted, RequestStatus.SUCCESS)
    success, error = counts(job_table)
    assert error >= 0 and success >= 0 and success + error <= 1, (success, error)
