"""The contract's "Buffered tile writes" on DynamoDB Local: add_tile with DDB_TILE_FLUSH_SECONDS /
tile_flush_seconds, one buffer per table per process, every flush trigger, faults, exit, crash, fork."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal

import botocore.session
import pytest

from pynamodb_tables import (
    ConfigurationError,
    InvalidTileError,
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    UpdateRegionException,
    complete_region,
    tile_buffer,
)
from tests.support.faults import CallCounter, FaultInjector, clients_of

pytestmark = pytest.mark.dynamodb_local

LONG = 3600.0  # an interval no test waits for: only the trigger under test writes


@pytest.fixture
def names(buffering_names):
    return buffering_names  # (tests/dynamodb_local/conftest.py)


def tables(names, seconds=LONG, **settings):
    job_name, region_name, host = names
    return JobTable(job_name, host=host, **settings), \
        RegionRequestTable(region_name, host=host, tile_flush_seconds=seconds, **settings)


def grid(count, offset=0):
    return [[[16 * ((n + offset) % 100), 16 * ((n + offset) // 100)], [16, 16]] for n in range(count)]


def stored(names, region_id="r"):
    """The region as stored, read around the package (so no flush is triggered)."""
    _, region_name, host = names
    client = botocore.session.get_session().create_client("dynamodb", endpoint_url=host)
    item = client.get_item(TableName=region_name, ConsistentRead=True,
                           Key={"image_id": {"S": "img"}, "region_id": {"S": region_id}}).get("Item")
    if item is None:
        return None
    return RegionRequestItem.from_raw_data(item)


def wait_for_succeeded(names, count, seconds, why):
    """Until the stored region holds ``count`` succeeded tiles (written by the timer); fails with ``why`` after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while stored(names).succeeded_tile_count != count:
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


def tiles_of(region, state="succeeded"):
    return sorted(map(str, getattr(region, f"{state}_tiles") or []))


def started(names, seconds=LONG, regions=1, **settings):
    jobs, region_table = tables(names, seconds, **settings)
    jobs.start_image_request(JobItem("img", "job", region_count=regions))
    region_table.start_region_request(RegionRequestItem("r", "img", "job"))
    return jobs, region_table


class TestSettings:
    def test_off_by_default_every_add_tile_is_one_write(self, names):
        _, regions = started(names, seconds=None)
        assert regions.tile_flush_seconds == 0
        with CallCounter(regions.clients()) as counter:
            for tile in grid(3):
                regions.add_tile("img", "r", tile, TileState.SUCCEEDED)
        assert counter.calls["UpdateItem"] == 3
        assert stored(names).succeeded_tile_count == 3

    def test_the_keyword_wins_over_the_environment(self, names, monkeypatch):
        monkeypatch.setenv("DDB_TILE_FLUSH_SECONDS", "5")
        assert tables(names, seconds=None)[1].tile_flush_seconds == 5
        assert tables(names, seconds=0)[1].tile_flush_seconds == 0
        monkeypatch.setenv("DDB_TILE_FLUSH_SECONDS", "0")
        assert tables(names, seconds=2.5)[1].tile_flush_seconds == 2.5

    @pytest.mark.parametrize("bad", ["soon", "-1", "nan", "inf"])
    def test_a_bad_interval_is_refused(self, names, monkeypatch, bad):
        monkeypatch.setenv("DDB_TILE_FLUSH_SECONDS", bad)
        with pytest.raises(ConfigurationError, match="DDB_TILE_FLUSH_SECONDS"):
            tables(names, seconds=None)
        monkeypatch.delenv("DDB_TILE_FLUSH_SECONDS")
        with pytest.raises(ConfigurationError, match="tile_flush_seconds"):
            tables(names, seconds=float(bad) if bad != "soon" else bad)

    def test_the_job_table_takes_no_such_keyword(self, names):
        with pytest.raises(TypeError):
            JobTable(names[0], host=names[2], tile_flush_seconds=5)


class TestBuffering:
    def test_tiles_wait_in_the_buffer_and_add_tile_returns_the_region_as_it_will_be(self, names):
        _, regions = started(names)
        with CallCounter(regions.clients()) as counter:
            for n, tile in enumerate(grid(5)):
                returned = regions.add_tile("img", "r", tile, TileState.FAILED if n == 4 else TileState.SUCCEEDED)
            again = regions.add_tile("img", "r", grid(1)[0], TileState.SUCCEEDED)  # already buffered
        assert not counter.calls
        assert (returned.succeeded_tile_count, returned.failed_tile_count) == (4, 1)
        assert again.succeeded_tiles == grid(4) and again.succeeded_tile_count == 4
        assert stored(names).succeeded_tile_count == 0
        regions.flush()
        region = stored(names)
        assert (region.succeeded_tiles, region.failed_tiles) == (grid(4), grid(5)[4:])
        assert (region.succeeded_tile_count, region.failed_tile_count) == (4, 1)

    @pytest.mark.parametrize("call", ["start", "get", "list", "add_tile at 1000"])
    def test_a_region_the_worker_holds_and_changes_is_not_the_buffers(self, names, call):
        """The worker's item (returned by any call) is its own: numbers it sets in another accepted form
        (Decimal, as boto3 reads them) or values it changes never reach what the buffer writes from."""
        jobs, regions = tables(names)
        jobs.start_image_request(JobItem("img", "job", region_count=1))
        held = regions.start_region_request(RegionRequestItem("r", "img", "job"))
        if call == "get":
            held = regions.get_region_request("r", "img")
        elif call == "list":
            held = regions.list_regions("img")[0]
        elif call == "add_tile at 1000":
            for tile in grid(1000):
                held = regions.add_tile("img", "r", tile, TileState.SUCCEEDED)
        start_time = held.start_time
        regions.add_tile("img", "r", grid(1, 1000)[0], TileState.FAILED)
        held.start_time, held.region_retry_count = Decimal(start_time), Decimal(7)
        held.succeeded_tile_count = Decimal(held.succeeded_tile_count or 0)
        regions.flush()
        region = stored(names)
        assert region.failed_tiles == grid(1, 1000) and region.failed_tile_count == 1
        assert region.start_time == start_time and region.region_retry_count == 0

    def test_a_bad_tile_and_an_unknown_region_fail_at_once(self, names):
        _, regions = started(names)
        with pytest.raises(InvalidTileError):
            regions.add_tile("img", "r", [[0, 0], [0, 16]], TileState.SUCCEEDED)
        with pytest.raises(UpdateRegionException, match="unknown region"):
            regions.add_tile("img", "nowhere", grid(1)[0], TileState.SUCCEEDED)
        assert regions._buffer.pending() == 0
        assert stored(names, "nowhere") is None

    def test_a_region_not_yet_seen_stored_is_written_at_once(self, names):
        started(names)
        _, fresh = tables(names)  # another object of the same table: the process saw the region started
        tile_buffer._forget_all()  # ... as a process that has not
        with CallCounter(fresh.clients()) as counter:
            fresh.add_tile("img", "r", grid(1)[0], TileState.SUCCEEDED)
            fresh.add_tile("img", "r", grid(2)[1], TileState.SUCCEEDED)
        assert counter.calls["UpdateItem"] == 1
        assert stored(names).succeeded_tile_count == 1

    def test_one_buffer_per_table_shared_by_every_table_object_and_thread(self, names):
        started(names, regions=2)
        tables(names)[1].start_region_request(RegionRequestItem("r2", "img", "job"))
        tiles = grid(200)

        def worker(number):
            _, regions = tables(names)  # each tile worker builds its own table, as the model runner's do
            for tile in tiles[number::8]:
                for region_id in ("r", "r2"):
                    regions.add_tile("img", region_id, tile, TileState.SUCCEEDED)

        counter = CallCounter(tables(names)[1].clients())
        with counter:
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            tables(names)[1].flush()
        assert counter.calls["UpdateItem"] <= 4
        for region_id in ("r", "r2"):
            region = stored(names, region_id)
            assert tiles_of(region) == sorted(map(str, tiles)) and region.succeeded_tile_count == 200

    def test_a_thousand_tiles_buffered_are_written_at_once(self, names):
        _, regions = started(names)
        with CallCounter(regions.clients()) as counter:
            for tile in grid(1000):
                regions.add_tile("img", "r", tile, TileState.SUCCEEDED)
        assert counter.calls["UpdateItem"] == 1 and regions._buffer.pending() == 0
        assert stored(names).succeeded_tile_count == 1000


class TestWhenTheyAreWritten:
    def test_within_the_interval_with_no_other_call(self, names):
        _, regions = started(names, seconds=0.3)
        for tile in grid(3):
            regions.add_tile("img", "r", tile, TileState.SUCCEEDED)
        wait_for_succeeded(names, 3, 5, "the buffered tiles were not written within the interval")

    @pytest.mark.parametrize("call", [
        "get_region_request", "update_region_request", "start_region_request", "complete_region_request",
        "complete_region", "add_tiles", "list_regions", "TileRecorder", "flush", "other table object",
    ])
    def test_before_every_call_that_reads_or_writes_the_region(self, names, call):
        jobs, regions = started(names)
        regions.add_tile("img", "r", grid(1)[0], TileState.FAILED)
        _, other = tables(names, seconds=0)  # any table object of the same table
        seen = {
            "get_region_request": lambda: other.get_region_request("r", "img"),
            "update_region_request": lambda: other.update_region_request(RegionRequestItem("r", "img", message="m")),
            "start_region_request": lambda: other.start_region_request(RegionRequestItem("r", "img", "job")),
            "complete_region_request": lambda: other.complete_region_request(RegionRequestItem("r", "img"),
                                                                             RequestStatus.FAILED),
            "complete_region": lambda: (complete_region(jobs, other, RegionRequestItem("r", "img"), "FAILED"),
                                        stored(names))[1],
            "add_tiles": lambda: other.add_tiles("img", "r", grid(2)[1:], TileState.SUCCEEDED),
            "list_regions": lambda: other.list_regions("img")[0],
            "TileRecorder": lambda: TileRecorder(other, "img", "r").flush(),
            "flush": lambda: (other.flush(), stored(names))[1],
            "other table object": lambda: other.add_tile("img", "r", grid(3)[2], TileState.SUCCEEDED),
        }[call]()
        if call == "start_region_request":  # the restart clears the failed tile, after it was recorded
            assert (seen.region_retry_count, seen.failed_tiles) == (1, [])
        else:
            assert seen.failed_tiles == grid(1) and seen.failed_tile_count == 1
        assert regions._buffer.pending() == 0

    def test_a_recorder_complete_counts_the_region_with_its_buffered_tiles(self, names):
        jobs, regions = started(names)
        regions.add_tile("img", "r", grid(1)[0], TileState.SUCCEEDED)
        recorder = TileRecorder(regions, "img", "r")
        recorder.record(grid(2)[1], TileState.SUCCEEDED)
        assert recorder.complete(jobs, RequestStatus.SUCCESS).region_success == 1
        assert stored(names).succeeded_tile_count == 2

    def test_at_a_normal_exit_of_the_interpreter(self, names):
        started(names)
        run_worker(names, "for tile in TILES: regions.add_tile('img', 'r', tile, TileState.SUCCEEDED)")
        assert stored(names).succeeded_tile_count == 5


class TestFaults:
    @pytest.mark.parametrize("kind", ["lost-response", "lost-timeout", "throttle", "server-error", "no-answer",
                                      "transaction-conflict"])
    def test_a_flush_under_a_fault_loses_and_doubles_nothing(self, names, kind):
        jobs, regions = started(names)
        for tile in grid(30):
            regions.add_tile("img", "r", tile, TileState.SUCCEEDED)
        injector = FaultInjector(kind, every=1, operations=["UpdateItem"], limit=2).install(clients_of(jobs, regions))
        try:
            regions.flush()
        finally:
            injector.remove()
        assert injector.injected["UpdateItem"] >= 1
        region = stored(names)
        assert tiles_of(region) == sorted(map(str, grid(30))) and region.succeeded_tile_count == 30

    def test_a_failed_flush_keeps_its_tiles_and_raises_in_the_call_that_triggered_it(self, names):
        jobs, regions = started(names, max_retry_attempts=0)
        for tile in grid(4):
            regions.add_tile("img", "r", tile, TileState.SUCCEEDED)
        injector = FaultInjector("server-error", every=1, operations=["UpdateItem"]).install(clients_of(jobs, regions))
        try:
            with pytest.raises(UpdateRegionException, match=r"^flush on table") as raised:
                regions.get_region_request("r", "img")
            assert raised.value.__cause__ is not None
        finally:
            injector.remove()
        assert regions._buffer.pending() == 4
        assert regions.get_region_request("r", "img").succeeded_tile_count == 4

    def test_the_timer_retries_a_failed_write(self, names):
        jobs, regions = started(names, seconds=0.2, max_retry_attempts=0)
        injector = FaultInjector("server-error", every=1, operations=["UpdateItem"], limit=3)
        injector.install(clients_of(jobs, regions))
        try:
            for tile in grid(3):
                regions.add_tile("img", "r", tile, TileState.SUCCEEDED)
            wait_for_succeeded(names, 3, 10, "the timer never wrote the tiles after its write failed")
        finally:
            injector.remove()
        assert injector.injected["UpdateItem"] == 3


class TestProcesses:
    def test_a_crash_loses_only_buffered_tiles_and_a_redelivery_records_them(self, names):
        started(names)
        run_worker(names, """
            regions.add_tile('img', 'r', TILES[0], TileState.SUCCEEDED)  # written: not seen stored here
            for tile in TILES[1:]:
                regions.add_tile('img', 'r', tile, TileState.SUCCEEDED)
            os.kill(os.getpid(), signal.SIGKILL)
        """, killed=True)
        region = stored(names)
        assert region.succeeded_tiles == grid(1) and region.succeeded_tile_count == 1  # never half-written
        run_worker(names, """
            region = regions.start_region_request(RegionRequestItem('r', 'img', 'job'))  # the redelivery
            for tile in TILES:
                regions.add_tile('img', 'r', tile, TileState.SUCCEEDED)
        """)
        region = stored(names)
        assert tiles_of(region) == sorted(map(str, grid(5))) and region.succeeded_tile_count == 5

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
    def test_a_forked_child_starts_with_an_empty_buffer(self, names):
        _, regions = started(names)
        for tile in grid(3):
            regions.add_tile("img", "r", tile, TileState.SUCCEEDED)
        child = os.fork()
        if child == 0:  # the child: its buffer is empty; at its exit it writes nothing of the parent's
            empty = regions._buffer.pending() == 0
            tile_buffer._flush_at_exit()  # what its interpreter's exit runs
            os._exit(0 if empty else 3)
        _, status = os.waitpid(child, 0)
        assert os.WEXITSTATUS(status) == 0
        assert stored(names).succeeded_tile_count == 0
        regions.flush()
        assert stored(names).succeeded_tile_count == 3


def run_worker(names, body, killed=False):
    """``body`` in a new interpreter, with ``regions`` a buffered table and ``TILES`` five tiles."""
    _, region_name, host = names
    script = textwrap.dedent("""
        import os, signal
        from pynamodb_tables import RegionRequestItem, RegionRequestTable, TileState
        regions = RegionRequestTable({name!r}, host={host!r}, tile_flush_seconds=3600)
        TILES = {tiles!r}
    """).format(name=region_name, host=host, tiles=grid(5)) + textwrap.dedent(body)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    if killed:
        assert done.returncode == -signal.SIGKILL, done.stderr
    else:
        assert done.returncode == 0, done.stderr
