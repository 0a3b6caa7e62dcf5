"""The model runner's two calls on DynamoDB Local: ``JobTable.complete_region_request`` tied to the region its
thread last started counts that region once, by its latest outcome, in either order and across crashes; a
tie never misfires (a bare counter stays a bare counter)."""

import threading
import uuid
from typing import Any, Callable, Optional

import pytest

from pynamodb_tables import (
    InvalidRegionRequestException,
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileState,
)
from pynamodb_tables.region_states import counted_entry
from tests.support.faults import FaultInjector, clients_of

pytestmark = pytest.mark.dynamodb_local

IMAGE, JOB = "img", "job-1"


def started_job(jobs: JobTable, region_count: int = 2, image_id: str = IMAGE, job_id: Optional[str] = JOB) -> None:
    jobs.start_image_request(JobItem(image_id, job_id, region_count=region_count))


def region(region_id: str = "r-0", image_id: str = IMAGE, job_id: Optional[str] = JOB) -> RegionRequestItem:
    return RegionRequestItem(region_id, image_id, job_id)


def counts(jobs: JobTable, image_id: str = IMAGE) -> tuple:
    job = jobs.get_image_request(image_id)
    return int(job.region_success), int(job.region_error)


def in_a_thread(call: Callable[[], Any]) -> Any:
    """``call`` in a fresh thread (a worker after a crash: another process's thread, with no tie)."""
    result: list = []
    errors: list = []

    def run() -> None:
        try:
            result.append(call())
        except Exception as exc:  # pragma: no cover - re-raised below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def success_path(jobs: JobTable, regions: RegionRequestTable, region_id: str, *, failed: int = 0,
                 stop_after: Optional[str] = None) -> None:
    """The runner's success path for one region of 4 tiles, ``failed`` of them failing; ``stop_after`` a call:
    the worker dies there."""
    item = regions.get_region_request(region_id, IMAGE) or region(region_id)
    regions.start_region_request(item)
    if stop_after == "start":
        return
    done = [[[int(v) for v in pair] for pair in tile] for tile in item.succeeded_tiles or []]
    todo = [tile for tile in ([[n * 8, 0], [8, 8]] for n in range(4)) if tile not in done]
    for n, tile in enumerate(todo):
        regions.add_tile(IMAGE, region_id, tile, TileState.FAILED if n < failed else TileState.SUCCEEDED)
    item.total_tiles = len(todo)
    item.succeeded_tile_count, item.failed_tile_count = len(todo) - min(failed, len(todo)), min(failed, len(todo))
    regions.update_region_request(item)
    jobs.complete_region_request(IMAGE, bool(min(failed, len(todo))))
    if stop_after == "job":
        return
    status = RequestStatus.SUCCESS
    if item.total_tiles == item.failed_tile_count:
        status = RequestStatus.FAILED
    elif item.failed_tile_count:
        status = RequestStatus.PARTIAL
    regions.complete_region_request(item, status)


def failure_path(jobs: JobTable, regions: RegionRequestTable, region_id: str, *,
                 stop_after: Optional[str] = None) -> None:
    """The runner's failure path: the region's outcome first, then the job's count."""
    item = regions.get_region_request(region_id, IMAGE) or region(region_id)
    regions.start_region_request(item)
    regions.complete_region_request(item, RequestStatus.FAILED)
    if stop_after == "region":
        return
    jobs.complete_region_request(IMAGE, error=True)


def test_the_success_path_counts_its_region_once(local_tables):
    jobs, regions = local_tables
    started_job(jobs)
    in_a_thread(lambda: success_path(jobs, regions, "r-0"))
    job = jobs.get_image_request(IMAGE)
    assert (job.region_success, job.region_error) == (1, 0)
    assert job.region_success_ids == {counted_entry("r-0")} and job.region_error_ids is None


def test_a_crash_after_the_job_call_and_the_message_again_counts_once(local_tables):
    jobs, regions = local_tables
    started_job(jobs)
    in_a_thread(lambda: success_path(jobs, regions, "r-0", failed=1, stop_after="job"))
    assert counts(jobs) == (0, 1)
    in_a_thread(lambda: success_path(jobs, regions, "r-0"))  # a fresh worker: the failed tile succeeds now
    assert counts(jobs) == (1, 0)  # by its latest outcome
    assert regions.get_region_request("r-0", IMAGE).region_status == "SUCCESS"


def test_a_crash_between_the_failure_paths_calls_and_the_message_again_counts_once(local_tables):
    jobs, regions = local_tables
    started_job(jobs)
    in_a_thread(lambda: failure_path(jobs, regions, "r-0", stop_after="region"))
    assert counts(jobs) == (0, 0)  # the worker died before its job call: never counted
    in_a_thread(lambda: success_path(jobs, regions, "r-0"))
    assert counts(jobs) == (1, 0)
    in_a_thread(lambda: failure_path(jobs, regions, "r-1"))
    in_a_thread(lambda: success_path(jobs, regions, "r-1"))  # redriven after a counted failure: moved
    assert counts(jobs) == (2, 0)


def test_a_finished_region_delivered_again_leaves_the_job_as_it_was(local_tables):
    jobs, regions = local_tables
    started_job(jobs)
    in_a_thread(lambda: success_path(jobs, regions, "r-0"))
    before = jobs.get_image_request(IMAGE).attribute_values
    in_a_thread(lambda: success_path(jobs, regions, "r-0"))
    assert jobs.get_image_request(IMAGE).attribute_values == before


def test_a_finished_region_stays_counted_a_success_whatever_the_job_call_says(local_tables):
    """SUCCESS is final (its start replays it): the tied count of a replayed start keeps it a success."""
    jobs, regions = local_tables
    started_job(jobs)
    in_a_thread(lambda: success_path(jobs, regions, "r-0"))

    def again_saying_error() -> None:
        regions.start_region_request(regions.get_region_request("r-0", IMAGE))
        jobs.complete_region_request(IMAGE, True)

    in_a_thread(again_saying_error)
    assert counts(jobs) == (1, 0)
    assert regions.get_region_request("r-0", IMAGE).region_status == RequestStatus.SUCCESS.value


def test_the_first_calls_job_is_the_job_as_stored(local_tables):
    jobs, regions = local_tables
    started_job(jobs)

    def calls() -> JobItem:
        regions.start_region_request(region("r-0"))
        return jobs.complete_region_request(IMAGE, False)

    returned = in_a_thread(calls)
    assert returned.attribute_values == jobs.get_image_request(IMAGE).attribute_values


def test_a_lost_answer_of_the_tied_count_counts_once(local_tables):
    jobs, regions = local_tables
    started_job(jobs)
    injector = FaultInjector("lost-response", 1, operations=["UpdateItem"], limit=1)

    def calls() -> None:
        regions.start_region_request(region("r-0"))
        injector.install(clients_of(jobs, regions))
        try:
            jobs.complete_region_request(IMAGE, False)
        finally:
            injector.remove()

    in_a_thread(calls)
    assert injector.injected["UpdateItem"] == 1
    assert counts(jobs) == (1, 0)


# -- a tie never misfires ------------------------------------------------------------------------


def test_a_thread_that_started_nothing_is_a_bare_counter(local_tables):
    jobs, _ = local_tables
    started_job(jobs)
    in_a_thread(lambda: [jobs.complete_region_request(IMAGE, False) for _ in range(3)])
    job = jobs.get_image_request(IMAGE)
    assert (job.region_success, job.region_success_ids) == (3, None)


def test_the_tie_ends_with_its_count(local_tables):
    jobs, regions = local_tables
    started_job(jobs)

    def calls() -> None:
        regions.start_region_request(region("r-0"))
        jobs.complete_region_request(IMAGE, False)  # tied: r-0
        jobs.complete_region_request(IMAGE, True)  # bare: the tie ended with the count

    in_a_thread(calls)
    job = jobs.get_image_request(IMAGE)
    assert (job.region_success, job.region_error, job.region_error_ids) == (1, 1, None)


def test_a_start_that_raises_leaves_no_tie(local_tables):
    """The model runner's failure path after a start that raised counts bare, never the region started before."""
    jobs, regions = local_tables
    started_job(jobs, region_count=3)

    def calls() -> None:
        regions.start_region_request(region("r-0"))
        with pytest.raises(InvalidRegionRequestException):
            regions.start_region_request(RegionRequestItem("r-1", IMAGE, JOB, region_retry_count=-1))
        jobs.complete_region_request(IMAGE, True)  # bare: no tie to r-0 left

    in_a_thread(calls)
    job = jobs.get_image_request(IMAGE)
    assert (job.region_success, job.region_error, job.region_error_ids) == (0, 1, None)


def test_a_region_of_another_image_never_ties(local_tables):
    jobs, regions = local_tables
    started_job(jobs)
    started_job(jobs, image_id="img-2")

    def calls() -> None:
        regions.start_region_request(region("r-0", image_id="img-2"))
        jobs.complete_region_request(IMAGE, False)
        jobs.complete_region_request(IMAGE, False)

    in_a_thread(calls)
    assert counts(jobs) == (2, 0)


def test_a_region_started_before_its_job_never_ties(dynamodb_local):
    """Another test's region: same image id, tables of its own, started before this test's job."""
    suffix = uuid.uuid4().hex[:8]
    made = [JobTable(f"jobs-a-{suffix}", host=dynamodb_local.endpoint),
            RegionRequestTable(f"regions-a-{suffix}", host=dynamodb_local.endpoint),
            JobTable(f"jobs-b-{suffix}", host=dynamodb_local.endpoint)]
    for table in made:
        table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    earlier_jobs, earlier_regions, jobs = made
    try:
        def calls() -> None:
            started_job(earlier_jobs)
            earlier_regions.start_region_request(region("r-0"))
            started_job(jobs)  # this test's job, started after that region
            jobs.complete_region_request(IMAGE, False)
            jobs.complete_region_request(IMAGE, False)

        in_a_thread(calls)
        job = jobs.get_image_request(IMAGE)
        assert (job.region_success, job.region_success_ids) == (2, None)
    finally:
        for table in made:
            table.model.delete_table()


def test_a_region_of_another_job_never_ties(local_tables):
    jobs, regions = local_tables

    def calls() -> None:
        regions.start_region_request(region("r-0", job_id="job-0"))
        started_job(jobs)  # job-1's item, the region is job-0's
        jobs.complete_region_request(IMAGE, False)

    in_a_thread(calls)
    job = jobs.get_image_request(IMAGE)
    assert (job.region_success, job.region_success_ids) == (1, None)


def test_a_tie_stays_in_its_thread(local_tables):
    jobs, regions = local_tables
    started_job(jobs)
    regions.start_region_request(region("r-0"))  # this thread's tie
    in_a_thread(lambda: jobs.complete_region_request(IMAGE, False))  # another thread: bare
    jobs.complete_region_request(IMAGE, False)  # this one: r-0
    job = jobs.get_image_request(IMAGE)
    assert (job.region_success, job.region_success_ids) == (2, {counted_entry("r-0")})


def test_a_tie_is_kept_by_a_job_table_of_its_endpoint_and_region_only(local_tables, dynamodb_local):
    jobs, regions = local_tables
    started_job(jobs)
    elsewhere = JobTable(jobs.table_name, host=dynamodb_local.endpoint, region="eu-west-1")  # another region's table
    assert elsewhere.region != jobs.region
    elsewhere.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    try:
        started_job(elsewhere)
        regions.start_region_request(region("r-0"))
        elsewhere.complete_region_request(IMAGE, False)  # bare: the tie is this region's tables'
        assert elsewhere.get_image_request(IMAGE).region_success_ids is None
        jobs.complete_region_request(IMAGE, False)
        assert jobs.get_image_request(IMAGE).region_success_ids == {counted_entry("r-0")}
    finally:
        elsewhere.model.delete_table()


def test_complete_region_after_the_two_calls_moves_the_count(local_tables):
    """A region the runner's calls counted as an error, restarted and finished by complete_region: moved."""
    from pynamodb_tables import complete_region

    jobs, regions = local_tables
    started_job(jobs)
    in_a_thread(lambda: failure_path(jobs, regions, "r-0"))
    item = regions.start_region_request(region("r-0"))
    complete_region(jobs, regions, item, RequestStatus.SUCCESS)
    assert counts(jobs) == (1, 0)
    assert jobs.get_image_request(IMAGE).region_error_ids is None


def test_reconcile_between_the_two_calls_counts_once(local_tables):
    """Issue 23, finding 9: the region's completion, a scheduled reconcile, then the job's call: one count."""
    from pynamodb_tables.repair import reconcile

    jobs, regions = local_tables
    started_job(jobs, region_count=1)

    def calls() -> None:
        item = regions.start_region_request(region("r-0"))
        regions.complete_region_request(item, RequestStatus.SUCCESS)
        in_a_thread(lambda: reconcile(jobs, regions, [IMAGE]))  # (an operator's, in a thread of its own)
        jobs.complete_region_request(IMAGE, False)

    in_a_thread(calls)
    assert counts(jobs) == (1, 0)
