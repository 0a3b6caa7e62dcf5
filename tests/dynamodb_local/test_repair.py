"""The repairs as a scheduled job calls them (``pynamodb_tables.repair``), on DynamoDB Local: on items
written by this package and in the forms the model runner's own database code leaves, and with
workers racing them on threads."""

import contextlib
import threading
import time
import uuid
from typing import Any, Iterator, List, Tuple

import pytest

from pynamodb_tables import (
    GetImageRequestItemException,
    ImageAlreadyEndedError,
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileState,
    complete_region,
)
from pynamodb_tables.repair import (
    JobNotFinishedError,
    counted_as,
    end_job,
    fail_stale,
    metered,
    reconcile,
)
from pynamodb_tables.repair.ending import CHANGED, FAILED, fail_region
from tests.support.model_runner_items import OldWorker

pytestmark = pytest.mark.dynamodb_local

HOUR_MS = 3_600_000
T = [[[x, 0], [256, 256]] for x in (0, 256, 512, 768)]
Tables = Tuple[JobTable, RegionRequestTable]


@pytest.fixture
def pair(dynamodb_local: Any) -> Iterator[Tables]:
    suffix = uuid.uuid4().hex[:8]
    tables = (JobTable(f"jobs-{suffix}", host=dynamodb_local.endpoint),
              RegionRequestTable(f"regions-{suffix}", host=dynamodb_local.endpoint))
    for table in tables:
        table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    yield tables
    for table in tables:
        table.model.delete_table()


@pytest.fixture
def old(pair: Tables, dynamodb_local: Any) -> OldWorker:
    return OldWorker(dynamodb_local.endpoint, pair[0].table_name, pair[1].table_name)


def start(pair: Tables, image_id: str = "img", regions: int = 3) -> None:
    pair[0].start_image_request(JobItem(image_id, "job", region_count=regions, width=1024, height=1024))


def region(pair: Tables, region_id: str, image_id: str = "img") -> RegionRequestItem:
    return pair[1].start_region_request(RegionRequestItem(region_id, image_id, "job", total_tiles=4))


def counts(pair: Tables, image_id: str = "img") -> Tuple[int, int]:
    job = pair[0].get_image_request(image_id)
    return int(job.region_success), int(job.region_error)


def stored(pair: Tables, region_id: str, image_id: str = "img") -> RegionRequestItem:
    item = pair[1].get_region_request(region_id, image_id)
    assert item is not None
    return item


def age(old: OldWorker, region_id: str, ms: int, image_id: str = "img") -> None:
    """Move a region's start and last update back ``ms`` (a worker that stopped then)."""
    then = old.now() - ms
    old.client.update_item(TableName=old.regions, Key={"image_id": {"S": image_id}, "region_id": {"S": region_id}},
                           UpdateExpression="SET start_time = :t, last_updated_time = :t",
                           ExpressionAttributeValues={":t": {"N": str(then)}})


# -- reconcile ----------------------------------------------------------------------------------

def test_reconcile_repairs_what_the_model_runners_own_code_leaves(pair: Tables, old: OldWorker) -> None:
    old.start_image("img", 3)
    old.start_region("img", "r-0")
    for tile in T[:3]:  # its add_tile keeps no count; the worker died before update_region_request
        old.add_tile("img", "r-0", tile, "succeeded")
    old.process_region("img", "r-1", T[:2], [], "SUCCESS")
    old.process_region("img", "r-1", [], [], "SUCCESS", read_back=True)  # redelivered: counted again, counts reset
    old.process_region("img", "r-2", [T[0]], [T[1]], "PARTIAL")
    old.add_tile("img", "r-2", T[1], "failed")  # a tile delivered again: listed twice
    before = [old.get_region("img", r) for r in ("r-0", "r-1", "r-2")]

    dry = reconcile(*pair, ["img"], dry_run=True)
    found = {(d.region_id, d.attribute): (d.stored, d.recounted, d.fixed) for d in dry.drifts}
    assert found == {("r-0", "succeeded_tile_count"): (0, 3, False), ("r-1", "succeeded_tile_count"): (0, 2, False),
                     (None, "region_success"): (2, 1, False)}
    assert not dry.agrees and dry.jobs_checked == 1
    assert [old.get_region("img", r) for r in ("r-0", "r-1", "r-2")] == before, "a dry run writes nothing"

    fixed = reconcile(*pair, ["img"])
    assert {(d.region_id, d.attribute, d.fixed) for d in fixed.drifts} == {(r, a, True) for r, a in found}
    assert fixed.agrees
    assert counts(pair) == (1, 1)
    assert stored(pair, "r-0").succeeded_tile_count == 3 and stored(pair, "r-2").failed_tile_count == 1
    assert fixed.capacity.read_units > 0 and fixed.capacity.write_units > 0 and fixed.capacity.writes == 3
    assert reconcile(*pair, ["img"]).drifts == []
    # The package carries on from the repaired items: the region the old worker left is finished by a new one.
    job = complete_region(pair[0], pair[1], stored(pair, "r-0"), RequestStatus.SUCCESS)
    assert (job.region_success, job.region_error) == (2, 1) and JobTable.is_image_request_complete(job)


def test_reconcile_moves_last_update_by_one_millisecond_so_a_workers_older_copy_reads_again(
        pair: Tables, old: OldWorker) -> None:
    start(pair)
    held = region(pair, "r-0")
    pair[1].add_tiles("img", "r-0", T[:2], TileState.SUCCEEDED)
    held = stored(pair, "r-0")
    old.update_counts("img", "r-0", 0, 0)  # drifted by another writer (this one also moves last_updated_time)
    drifted = stored(pair, "r-0")
    reconcile(*pair, ["img"])
    after = stored(pair, "r-0")
    assert after.succeeded_tile_count == 2 and after.last_updated_time == drifted.last_updated_time + 1
    job = complete_region(pair[0], pair[1], drifted, RequestStatus.SUCCESS)  # a copy from before the repair
    assert (job.region_success, job.region_error) == (1, 0)
    assert held.succeeded_tile_count == 2


def test_a_region_restarted_after_an_error_outcome_stays_counted_in_region_error(pair: Tables) -> None:
    """complete_region keeps a region restarted after FAILED counted in region_error (its kept end_time says
    so) until its next outcome; reconcile counts it the same way, so that the later SUCCESS moves it."""
    start(pair, regions=1)
    complete_region(pair[0], pair[1], region(pair, "r-0"), RequestStatus.FAILED)
    assert counts(pair) == (0, 1)
    restarted = region(pair, "r-0")  # redelivered: running again, end_time kept
    assert restarted.region_status == "STARTED" and restarted.end_time is not None
    assert counted_as(restarted) == "region_error"
    assert reconcile(*pair, ["img"]).drifts == []  # nothing to take away
    bare = threading.Thread(target=pair[0].complete_region_request, args=("img", False))
    bare.start()  # a bare counter (a thread that started no region: a script) drifts the job meanwhile
    bare.join()
    assert counts(pair) == (1, 1)
    fixed = reconcile(*pair, ["img"])
    assert [(d.attribute, d.stored, d.recounted) for d in fixed.drifts] == [("region_success", 1, 0)]
    assert counts(pair) == (0, 1)
    job = complete_region(pair[0], pair[1], stored(pair, "r-0"), RequestStatus.SUCCESS)  # not refused
    assert (job.region_success, job.region_error) == (1, 0)
    assert reconcile(*pair, ["img"]).drifts == []


def test_reconcile_counts_the_model_runners_restarts_by_what_they_leave(pair: Tables, old: OldWorker) -> None:
    """Its restart from an item read back keeps end_time (counted in region_error, as complete_region would);
    from a fresh item it drops end_time (no outcome counted: neither)."""
    old.start_image("img", 2)
    for region_id in ("r-0", "r-1"):
        old.process_region("img", region_id, [], [T[0]], "FAILED")
    old.start_region("img", "r-0", read_back=True)
    old.start_region("img", "r-1")
    reconcile(*pair, ["img"])
    assert counts(pair) == (0, 1)
    assert stored(pair, "r-1").failed_tile_count == 0


def test_reconcile_of_an_unknown_image_raises_and_writes_nothing(pair: Tables) -> None:
    start(pair)
    with pytest.raises(GetImageRequestItemException, match="unknown image 'nope'"):
        reconcile(*pair, ["img", "nope"])


# -- fail-stale ---------------------------------------------------------------------------------

def test_fail_stale_completes_a_stale_region_failed_counted_once(pair: Tables, old: OldWorker) -> None:
    start(pair)
    complete_region(pair[0], pair[1], region(pair, "r-0"), RequestStatus.SUCCESS)
    region(pair, "r-1")
    stuck = region(pair, "r-2")
    pair[1].add_tile("img", "r-2", T[0], TileState.SUCCEEDED)
    age(old, "r-2", HOUR_MS)
    listed = fail_stale(*pair, ["img"], 600)
    assert [(r.region_id, r.result) for r in listed.regions] == [("r-2", "would-fail")]
    assert stored(pair, "r-2").region_status == "STARTED" and counts(pair) == (1, 0)

    swept = fail_stale(*pair, ["img"], 600, apply=True)
    assert [(r.region_id, r.result, r.region_status) for r in swept.regions] == [("r-2", FAILED, "STARTED")]
    assert swept.regions[0].seconds_since_activity >= 3600 and swept.capacity.write_units > 0
    assert stored(pair, "r-2").region_status == "FAILED" and counts(pair) == (1, 1)
    assert stored(pair, "r-1").region_status == "STARTED"
    # The worker that was only slow completes it later: refused, nothing counted.
    job = complete_region(pair[0], pair[1], stuck, RequestStatus.SUCCESS)
    assert (job.region_success, job.region_error) == (1, 1) and stored(pair, "r-2").region_status == "FAILED"
    # Its message delivered again: a restart like any FAILED region's, then its outcome moves the count.
    again = region(pair, "r-2")
    assert (again.region_retry_count, again.succeeded_tile_count) == (1, 1)
    job = complete_region(pair[0], pair[1], again, RequestStatus.SUCCESS)
    assert (job.region_success, job.region_error) == (2, 0)
    assert fail_stale(*pair, ["img"], 0, apply=True).regions[0].region_id == "r-1"


def test_fail_stale_leaves_a_region_written_since_it_was_read(pair: Tables, old: OldWorker) -> None:
    start(pair)
    region(pair, "r-0")
    age(old, "r-0", HOUR_MS)
    read = stored(pair, "r-0")
    pair[1].add_tile("img", "r-0", T[0], TileState.SUCCEEDED)  # the worker was only slow
    assert fail_region(pair[0], pair[1], read) == CHANGED
    assert stored(pair, "r-0").region_status == "STARTED" and counts(pair) == (0, 0)
    assert fail_stale(*pair, ["img"], 600, apply=True).regions == []  # no longer stale


def test_fail_stale_of_a_region_restarted_after_failed_counts_it_once(pair: Tables, old: OldWorker) -> None:
    start(pair, regions=1)
    complete_region(pair[0], pair[1], region(pair, "r-0"), RequestStatus.FAILED)
    region(pair, "r-0")  # redelivered, then its worker died
    age(old, "r-0", HOUR_MS)
    fail_stale(*pair, ["img"], 60, apply=True)
    assert stored(pair, "r-0").region_status == "FAILED" and counts(pair) == (0, 1)


def test_fail_stale_on_a_region_the_model_runner_started(pair: Tables, old: OldWorker) -> None:
    """Its start sets no last_updated_time (and its add_tile none): the start time tells how long it is idle."""
    old.start_image("img", 1)
    old.start_region("img", "r-0", start=old.now() - HOUR_MS)
    old.add_tile("img", "r-0", T[0], "succeeded")
    swept = fail_stale(*pair, None, 1800, apply=True)
    assert [(r.region_id, r.result) for r in swept.regions] == [("r-0", FAILED)] and swept.jobs_checked == 1
    assert counts(pair) == (0, 1) and reconcile(*pair, ["img"]).drifts[0].attribute == "succeeded_tile_count"


def test_fail_stale_checks_its_age(pair: Tables) -> None:
    with pytest.raises(ValueError, match="older_than_s"):
        fail_stale(*pair, ["img"], -1)


# -- end-job ------------------------------------------------------------------------------------

def test_end_job_only_once_every_region_has_an_outcome(pair: Tables) -> None:
    start(pair, regions=3)
    complete_region(pair[0], pair[1], region(pair, "r-0"), RequestStatus.SUCCESS)
    region(pair, "r-1")
    with pytest.raises(JobNotFinishedError, match=r"1 region\(s\) still running: r-1; 1 of region_count 3") as refused:
        end_job(*pair, "img")
    assert (refused.value.running, refused.value.never_recorded) == (["r-1"], 1)
    assert pair[0].get_image_request("img").end_time is None
    ended = end_job(*pair, "img", force=True)
    assert ended.forced and ended.running == ["r-1"] and ended.never_recorded == 1
    assert pair[0].get_image_request("img").end_time == ended.end_time
    with pytest.raises(ImageAlreadyEndedError):
        end_job(*pair, "img", force=True)
    assert pair[0].get_image_request("img").end_time == ended.end_time


def test_end_job_of_a_finished_job(pair: Tables) -> None:
    start(pair, regions=1)
    complete_region(pair[0], pair[1], region(pair, "r-0"), RequestStatus.PARTIAL)
    ended = end_job(*pair, "img")
    assert not ended.forced and ended.running == [] and ended.processing_duration is not None
    with pytest.raises(GetImageRequestItemException, match="unknown image"):
        end_job(*pair, "other")


# -- racing workers -----------------------------------------------------------------------------

def run_threads(*targets: Any) -> None:
    errors: List[BaseException] = []

    def guarded(target: Any) -> Any:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # (reported below)
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guarded(target)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors


def test_reconcile_racing_workers_never_loses_an_update_nor_doubles_a_count(pair: Tables,
                                                                            dynamodb_local: Any) -> None:
    regions = [f"r-{n}" for n in range(8)]
    start(pair, regions=len(regions))
    for region_id in regions:
        region(pair, region_id)
    pair[0].complete_region_request("img", error=False)  # drifted: a seed-call count of nothing
    done = threading.Event()

    def worker(region_id: str, number: int) -> Any:
        def work() -> None:
            tables = (JobTable(pair[0].table_name, host=dynamodb_local.endpoint, read_timeout_seconds=30 + number),
                      RegionRequestTable(pair[1].table_name, host=dynamodb_local.endpoint,
                                         read_timeout_seconds=30 + number))
            for tile in T:
                tables[1].add_tile("img", region_id, tile, TileState.SUCCEEDED if number % 2 else TileState.FAILED)
            complete_region(tables[0], tables[1], stored(pair, region_id), RequestStatus.FAILED)
            again = tables[1].start_region_request(RegionRequestItem(region_id, "img", "job"))
            tables[1].add_tiles("img", region_id, T, TileState.SUCCEEDED)
            again = stored(pair, region_id)
            complete_region(tables[0], tables[1], again, RequestStatus.SUCCESS)  # needs its error still counted
        return work

    def repairs() -> None:
        rounds = 0
        while not done.is_set() or not rounds:
            reconcile(*pair, ["img"])
            rounds += 1

    def workers() -> None:
        try:
            run_threads(*(worker(region_id, n) for n, region_id in enumerate(regions)))
        finally:
            done.set()

    run_threads(repairs, workers)
    assert reconcile(*pair, ["img"], dry_run=True).drifts == []  # the tables agree without another repair
    assert counts(pair) == (len(regions), 0)
    for region_id in regions:
        item = stored(pair, region_id)
        assert item.region_status == "SUCCESS" and item.succeeded_tile_count == len(item.succeeded_tiles) == 4


def test_fail_stale_racing_the_regions_own_workers_counts_each_region_once(pair: Tables, old: OldWorker,
                                                                            dynamodb_local: Any) -> None:
    regions = [f"r-{n}" for n in range(10)]
    start(pair, regions=len(regions))
    held = {}
    for region_id in regions:
        region(pair, region_id)
        age(old, region_id, HOUR_MS)
        held[region_id] = stored(pair, region_id)
    gate = threading.Barrier(2)

    def slow_workers() -> None:
        worker = (JobTable(pair[0].table_name, host=dynamodb_local.endpoint, read_timeout_seconds=41),
                  RegionRequestTable(pair[1].table_name, host=dynamodb_local.endpoint, read_timeout_seconds=41))
        gate.wait()
        for region_id in regions:
            complete_region(worker[0], worker[1], held[region_id], RequestStatus.SUCCESS)

    def sweep() -> None:
        gate.wait()
        fail_stale(*pair, ["img"], 60, apply=True)

    run_threads(slow_workers, sweep)
    statuses = [stored(pair, region_id).region_status for region_id in regions]
    assert counts(pair) == (statuses.count("SUCCESS"), statuses.count("FAILED"))
    assert sum(counts(pair)) == len(regions)
    assert reconcile(*pair, ["img"], dry_run=True).drifts == []


def test_end_job_racing_a_worker_ending_the_same_job_ends_it_once(pair: Tables) -> None:
    start(pair, regions=1)
    complete_region(pair[0], pair[1], region(pair, "r-0"), RequestStatus.SUCCESS)
    gate, ends = threading.Barrier(2), []

    def operator() -> None:
        gate.wait()
        with contextlib.suppress(ImageAlreadyEndedError):
            ends.append(end_job(*pair, "img").end_time)

    def worker() -> None:
        gate.wait()
        with contextlib.suppress(ImageAlreadyEndedError):
            ends.append(pair[0].end_image_request("img").end_time)

    run_threads(operator, worker)
    assert len(ends) == 1 and pair[0].get_image_request("img").end_time == ends[0]


def test_the_meter_counts_only_its_own_thread(pair: Tables, dynamodb_local: Any) -> None:
    start(pair)
    with metered(*pair) as capacity:
        thread = threading.Thread(target=lambda: [pair[0].get_image_request("img") for _ in range(5)])
        thread.start()
        thread.join()
        pair[0].get_image_request("img")
        time.sleep(0)
    assert capacity.reads == 1 and capacity.read_units == 1.0 and capacity.writes == 0


def test_bad_image_ids_are_refused_before_any_job_is_repaired(pair: Tables, old: OldWorker) -> None:
    old.start_image("img", 1)
    old.count_region("img", error=False)
    with pytest.raises(ValueError, match="image_id must be a non-empty string"):
        reconcile(*pair, ["img", ""])
    assert counts(pair) == (1, 0)
