"""Races between workers, with real threads and separate processes, on AWS's DynamoDB Local."""

import multiprocessing
import uuid
from typing import Any, Callable, Iterator, List, Sequence, Tuple

import pytest

from pynamodb_tables import JobItem, RegionRequestItem, RequestStatus
from tests.support import workers
from tests.support.workers import Names, ThreadBarrier, in_threads

pytestmark = pytest.mark.dynamodb_local

REGIONS = 24
DELIVERIES = 3


@pytest.fixture
def names(dynamodb_local) -> Iterator[Names]:
    from tests.support.backends import Backend

    suffix = uuid.uuid4().hex[:8]
    job_table, region_table = Backend("dynamodb_local", dynamodb_local.endpoint).tables(f"race-{suffix}")
    yield dynamodb_local.endpoint, job_table.table_name, region_table.table_name
    for table in (job_table, region_table):
        table.model.delete_table()


def start_job(names: Names, image_id: str = "img", region_count: int = REGIONS) -> None:
    job_table, _ = workers.open_tables(names)
    job_table.start_image_request(JobItem(image_id=image_id, region_count=region_count))


def in_processes(function: str, args_list: Sequence[Tuple[Any, ...]], with_barrier: bool = True) -> List[Any]:
    """Run ``workers.<function>(*args, barrier)`` in one spawned process per ``args``."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    barrier = context.Barrier(len(args_list), timeout=120)
    processes = [
        context.Process(target=workers.report,
                        args=(queue, n, function, (*args, barrier) if with_barrier else args))
        for n, args in enumerate(args_list)
    ]
    for process in processes:
        process.start()
    results = dict(queue.get(timeout=300) for _ in processes)
    for process in processes:
        process.join(60)
    return [results[n] for n in range(len(args_list))]


def expected_counts() -> Tuple[int, int]:
    failed = sum(1 for n in range(REGIONS) if workers.outcome_of(n) is RequestStatus.FAILED)
    return REGIONS - failed, failed


def check_image(names: Names, results: List[str]) -> None:
    assert [r for r in results if r not in ("done", "already-complete")] == []
    job_table, region_table = workers.open_tables(names)
    job = job_table.get_image_request("img")
    assert (job.region_success, job.region_error) == expected_counts()
    assert job_table.is_image_request_complete(job)
    regions = region_table.list_regions("img")
    assert len(regions) == REGIONS
    for region in regions:
        number = int(region.region_id.split("-")[1])
        assert region.region_status == workers.outcome_of(number).value
        recorded = region.succeeded_tiles if region.region_status == "SUCCESS" else region.failed_tiles
        assert sorted(recorded) == sorted(workers.region_tiles(number)), region.region_id


def test_each_region_delivered_three_times_at_once_threads(names):
    start_job(names)
    barrier = ThreadBarrier(REGIONS * DELIVERIES)
    calls = [lambda n=n: workers.deliver_region(names, "img", n, barrier)
             for n in range(REGIONS) for _ in range(DELIVERIES)]
    check_image(names, in_threads(calls))


def test_each_region_delivered_three_times_at_once_processes(names):
    start_job(names)
    # Each process delivers every region once, on 8 threads: the three copies race across processes.
    results = in_processes("deliver_regions", [(names, "img", list(range(REGIONS)), 8)] * DELIVERIES)
    check_image(names, [r for batch in results for r in batch])


def test_sixteen_racing_ends_threads(names):
    start_job(names)
    barrier = ThreadBarrier(16)
    results = in_threads([lambda: workers.end_image(names, "img", barrier)] * 16)
    assert sorted(results) == ["already-ended"] * 15 + ["won"]


def test_sixteen_racing_ends_processes(names):
    start_job(names)
    results = in_processes("end_image", [(names, "img")] * 16)
    assert sorted(results) == ["already-ended"] * 15 + ["won"]
    job_table, _ = workers.open_tables(names)
    assert job_table.get_image_request("img").end_time is not None


def _tile_race(names: Names, run: Callable[[List[Tuple[Any, ...]]], List[List[str]]]) -> None:
    start_job(names)
    _, region_table = workers.open_tables(names)
    region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r"))
    tiles = [[[16 * n, 0], [16, 16]] for n in range(40)]
    calls = tiles * 3  # every tile three times
    shares = [calls[k::8] for k in range(8)]
    errors = run([(names, "img", "r", share) for share in shares])
    assert [e for batch in errors for e in batch] == []
    region = region_table.get_region_request("r", "img")
    assert region.succeeded_tile_count == 40
    assert sorted(region.succeeded_tiles) == sorted(tiles)


def test_duplicate_tiles_from_eight_threads(names):
    barrier = ThreadBarrier(8)
    _tile_race(names, lambda args: in_threads(
        [lambda a=a: workers.add_tiles_one_by_one(*a, barrier) for a in args]))


def test_duplicate_tiles_from_eight_processes(names):
    _tile_race(names, lambda args: in_processes("add_tiles_one_by_one", args))


def test_two_hundred_concurrent_counter_adds(names):
    start_job(names, region_count=200)
    barrier = ThreadBarrier(8)
    errors = in_threads([lambda: workers.count_regions(names, "img", 25, 5, barrier)] * 8)
    assert [e for batch in errors for e in batch] == []
    job_table, _ = workers.open_tables(names)
    job = job_table.get_image_request("img")
    assert (job.region_success, job.region_error) == (160, 40)


def test_two_hundred_counter_adds_from_processes(names):
    start_job(names, region_count=200)
    errors = in_processes("count_regions", [(names, "img", 50, 5)] * 4)
    assert [e for batch in errors for e in batch] == []
    job_table, _ = workers.open_tables(names)
    job = job_table.get_image_request("img")
    assert (job.region_success, job.region_error) == (160, 40)
