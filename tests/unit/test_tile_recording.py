"""Batched tile recording: add_tiles' writes, the item size limit, and the TileRecorder."""

import copy
from datetime import timedelta

import pytest
from freezegun import freeze_time

from pynamodb_tables import (
    InvalidRequestError,
    InvalidTileError,
    JobItem,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    UpdateRegionException,
    complete_region,
    tiles_to_process,
)
from pynamodb_tables.items import TileListAttribute
from pynamodb_tables.room import value_size
from pynamodb_tables.store import store_of
from tests.support.backends import T0
from tests.support.faults import CallCounter, FaultInjector, clients_of


def grid(count: int, offset: int = 0):
    return [[[10_000 + 16 * ((n + offset) % 500), 10_000 + 16 * ((n + offset) // 500)], [16, 16]]
            for n in range(count)]


@pytest.fixture
def region(region_table):
    return region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r"))


def calls(tables):
    return CallCounter(clients_of(*tables))


class TestAddTilesWrites:
    def test_up_to_140_new_tiles_take_one_write_and_no_read(self, tables, region_table, region):
        with calls(tables) as counter:
            item = region_table.add_tiles("img", "r", grid(140), TileState.SUCCEEDED)
        assert dict(counter.calls) == {"UpdateItem": 1}
        assert item.succeeded_tile_count == 140

    def test_more_tiles_take_one_read_and_one_write(self, tables, region_table, region):
        with calls(tables) as counter:
            item = region_table.add_tiles("img", "r", grid(1936), TileState.SUCCEEDED)
        assert dict(counter.calls) == {"GetItem": 1, "UpdateItem": 1}
        assert item.succeeded_tile_count == 1936 and item.succeeded_tiles == grid(1936)

    def test_list_changed_between_read_and_write_is_retried(self, region_table, region, monkeypatch):
        other = RegionRequestTable(region_table.table_name, host=region_table.host)
        store = store_of(region_table)
        read = store.existing

        def read_then_race(*args, **kwargs):
            stored = read(*args, **kwargs)
            monkeypatch.setattr(store, "existing", read)
            other.add_tiles("img", "r", grid(3, offset=299), TileState.SUCCEEDED)  # lands after our read
            return stored

        monkeypatch.setattr(store, "existing", read_then_race)
        item = region_table.add_tiles("img", "r", grid(300), TileState.SUCCEEDED)
        assert item.succeeded_tile_count == 302
        assert sorted(item.succeeded_tiles) == sorted(grid(302))

    def test_recorded_tiles_skipped_on_the_read_path(self, tables, region_table, region):
        region_table.add_tiles("img", "r", grid(200), TileState.FAILED)
        item = region_table.add_tiles("img", "r", grid(400), TileState.FAILED)
        assert item.failed_tile_count == 400 and item.failed_tiles == grid(400)


class TestTileRecorder:
    def test_flushes_every_n_tiles_and_on_exit(self, tables, region_table, region):
        tiles = grid(25)
        with calls(tables) as counter, TileRecorder(region_table, "img", "r", flush_every=10) as recorder:
            for n, tile in enumerate(tiles):
                recorder.record(tile, TileState.FAILED if n % 10 == 9 else TileState.SUCCEEDED)
                if n == 9:
                    assert recorder.pending == 0 and recorder.region.succeeded_tile_count == 9
            assert recorder.pending == 5
        assert counter.calls["UpdateItem"] == 3  # 9+1, 9+1, 5 tiles: both lists in one write
        stored = region_table.get_region_request("r", "img")
        assert (stored.succeeded_tile_count, stored.failed_tile_count) == (23, 2)
        assert recorder.pending == 0 and recorder.region.succeeded_tile_count == 23

    def test_flushes_after_the_interval(self, region_table, region):
        with freeze_time(T0) as clock:
            recorder = TileRecorder(region_table, "img", "r", flush_every=1000, flush_interval=5)
            recorder.record(grid(1)[0], TileState.SUCCEEDED)
            assert recorder.pending == 1
            clock.tick(timedelta(seconds=6))
            recorder.record(grid(2)[1], TileState.SUCCEEDED)
            assert recorder.pending == 0
        assert region_table.get_region_request("r", "img").succeeded_tile_count == 2

    def test_failed_flush_keeps_tiles_and_never_records_twice(self, region_table, region, monkeypatch):
        recorder = TileRecorder(region_table, "img", "r", flush_every=1000)
        for tile in grid(200):
            recorder.record(tile, TileState.SUCCEEDED)
        real = region_table.record_tiles

        def lands_then_fails(*args, **kwargs):
            real(*args, **kwargs)  # the write lands, the caller never hears
            raise UpdateRegionException("connection lost")

        monkeypatch.setattr(region_table, "record_tiles", lands_then_fails)
        with pytest.raises(UpdateRegionException):
            recorder.flush()
        assert recorder.pending == 200
        monkeypatch.setattr(region_table, "record_tiles", real)
        recorder.record(grid(201)[200], TileState.SUCCEEDED)
        assert recorder.flush().succeeded_tile_count == 201
        assert recorder.pending == 0

    def test_a_stale_region_never_makes_a_tile_look_recorded(self, region_table, region):
        held = region_table.add_tile("img", "r", grid(1)[0], TileState.FAILED)  # what this worker holds
        region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r"))  # a restart elsewhere
        recorder = TileRecorder(region_table, "img", "r", region=held)  # holds the tile as failed: stale
        recorder.record(grid(1)[0], TileState.FAILED)
        recorder.record(grid(1)[0], TileState.FAILED)
        assert recorder.flush().failed_tiles == grid(1)
        assert region_table.get_region_request("r", "img").failed_tile_count == 1

    def test_block_error_still_records_done_tiles_and_propagates(self, region_table, region):
        with pytest.raises(RuntimeError, match="model crashed"), TileRecorder(region_table, "img", "r") as recorder:
            recorder.record(grid(1)[0], TileState.SUCCEEDED)
            raise RuntimeError("model crashed")
        assert region_table.get_region_request("r", "img").succeeded_tile_count == 1

    def test_region_known_even_when_nothing_was_left_to_record(self, job_table, region_table, region):
        job_table.start_image_request(JobItem(image_id="img", region_count=1))
        region_table.add_tiles("img", "r", grid(3), TileState.SUCCEEDED)
        resumed = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r"))
        with TileRecorder(region_table, "img", "r") as recorder:
            for tile in tiles_to_process(resumed, grid(3)):
                recorder.record(tile, TileState.SUCCEEDED)
        assert recorder.region is not None and recorder.region.region_retry_count == 1
        assert complete_region(job_table, region_table, recorder.region, "SUCCESS").region_success == 1

    def test_bad_input(self, region_table):
        with pytest.raises(InvalidRequestError):
            TileRecorder(region_table, "img", "r", flush_every=0)
        with pytest.raises(InvalidRequestError):
            TileRecorder(region_table, "", "r")
        recorder = TileRecorder(region_table, "img", "r")
        with pytest.raises(InvalidTileError):
            recorder.record([[0, 0], [0, 0]], TileState.SUCCEEDED)
        with pytest.raises(InvalidRequestError):
            recorder.record(grid(1)[0], "maybe")
        assert recorder.pending == 0

    def test_recorder_region_completes_without_a_read(self, tables, job_table, region_table, region):
        job_table.start_image_request(JobItem(image_id="img", region_count=1))
        with TileRecorder(region_table, "img", "r") as recorder:
            for tile in grid(121):
                recorder.record(tile, TileState.SUCCEEDED)
        with calls(tables) as counter:
            job = complete_region(job_table, region_table, recorder.region, RequestStatus.SUCCESS)
        assert dict(counter.calls) == {"TransactWriteItems": 1, "GetItem": 1}  # the job, as stored after
        assert job.region_success == 1

    def test_stale_copy_still_completes_correctly(self, job_table, region_table, region):
        job_table.start_image_request(JobItem(image_id="img", region_count=1))
        stale = RegionRequestItem(**copy.deepcopy(region.attribute_values))  # a copy from before the redrive
        complete_region(job_table, region_table, region, RequestStatus.FAILED)
        redriven = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r"))
        assert stale.region_status == "STARTED"
        job = complete_region(job_table, region_table, stale, RequestStatus.SUCCESS)
        assert (job.region_success, job.region_error) == (1, 0)
        assert complete_region(job_table, region_table, redriven, "FAILED").region_success == 1



class TestRecorderComplete:
    def test_tiles_outcome_and_counter_in_one_transaction(self, tables, job_table, region_table, region):
        job_table.start_image_request(JobItem(image_id="img", region_count=1))
        recorder = TileRecorder(region_table, "img", "r", region=region)
        for n, tile in enumerate(grid(121)):
            recorder.record(tile, TileState.FAILED if n % 10 == 9 else TileState.SUCCEEDED)
        with calls(tables) as counter:
            job = recorder.complete(job_table, RequestStatus.PARTIAL)
        assert dict(counter.calls) == {"TransactWriteItems": 1, "GetItem": 1}  # no read of the region
        assert (job.region_success, job.region_error) == (0, 1) and recorder.pending == 0
        stored = region_table.get_region_request("r", "img")
        assert (stored.region_status, stored.succeeded_tile_count, stored.failed_tile_count) == ("PARTIAL", 109, 12)
        assert recorder.region.attribute_values == stored.attribute_values

    def test_a_duplicate_delivery_counts_once_and_keeps_every_tile(self, job_table, region_table, region):
        job_table.start_image_request(JobItem(image_id="img", region_count=1))
        first = TileRecorder(region_table, "img", "r", region=region)
        second = TileRecorder(region_table, "img", "r", region=region)  # the same message, delivered twice
        for tile in grid(10):
            first.record(tile, TileState.SUCCEEDED)
        for tile in grid(12):
            second.record(tile, TileState.SUCCEEDED)
        assert first.complete(job_table, RequestStatus.SUCCESS).region_success == 1
        job = second.complete(job_table, RequestStatus.FAILED)  # already complete: not counted
        assert (job.region_success, job.region_error) == (1, 0)
        stored = region_table.get_region_request("r", "img")
        assert stored.region_status == "SUCCESS" and stored.succeeded_tile_count == 12  # the late tiles kept
        assert sorted(stored.succeeded_tiles) == sorted(grid(12))

    def test_a_redrive_is_counted_by_its_latest_outcome(self, job_table, region_table, region):
        job_table.start_image_request(JobItem(image_id="img", region_count=1))
        failing = TileRecorder(region_table, "img", "r", region=region)
        failing.record(grid(1)[0], TileState.FAILED)
        assert failing.complete(job_table, RequestStatus.FAILED).region_error == 1
        redriven = region_table.start_region_request(RegionRequestItem(image_id="img", region_id="r"))
        retry = TileRecorder(region_table, "img", "r", region=redriven)
        retry.record(grid(1)[0], TileState.SUCCEEDED)
        job = retry.complete(job_table, RequestStatus.SUCCESS)
        assert (job.region_success, job.region_error) == (1, 0)
        assert retry.region.failed_tiles == [] and retry.region.succeeded_tiles == grid(1)

    @pytest.mark.dynamodb_local
    @pytest.mark.parametrize("backend", ["dynamodb_local"], indirect=True)
    def test_a_lost_answer_counts_once(self, tables, job_table, region_table, region):
        job_table.start_image_request(JobItem(image_id="img", region_count=1))
        recorder = TileRecorder(region_table, "img", "r", region=region)
        for tile in grid(5):
            recorder.record(tile, TileState.SUCCEEDED)
        injector = FaultInjector("lost-response", every=1, operations=["TransactWriteItems"], limit=1)
        injector.install(clients_of(*tables))
        try:
            job = recorder.complete(job_table, RequestStatus.SUCCESS)
        finally:
            injector.remove()
        assert injector.injected["TransactWriteItems"] == 1
        assert (job.region_success, job.region_error) == (1, 0)
        assert region_table.get_region_request("r", "img").succeeded_tile_count == 5



@pytest.mark.parametrize(("value", "size"), [
    # value sizes measured on DynamoDB Local (largest item it accepts, padded with a string)
    ({"N": "10000"}, 2), ({"N": "10544"}, 4), ({"N": "10160"}, 4), ({"N": "1.05"}, 3), ({"N": "0"}, 1),
    ({"N": "-123.4500"}, 5), ({"L": []}, 3), ({"L": [{"N": "1"}]}, 6), ({"L": [{"L": []}]}, 7),
    ({"L": TileListAttribute().serialize(grid(1000))}, 26_961), ({"S": "héllo"}, 6),
])
def test_item_sizes_match_dynamodb(value, size):
    assert value_size(value) == size


@pytest.mark.parametrize("tiles", [grid(0), grid(1), grid(700), [[[0, 0], [1, 1]], [[2**31 - 1, 10**6], [100, 99]]]])
def test_tile_lists_sized_and_written_from_their_ints_as_pynamodb_would(tiles):
    from pynamodb.attributes import ListAttribute

    from pynamodb_tables.items import BoxAttribute
    from pynamodb_tables.room import tiles_size

    wire = ListAttribute(of=BoxAttribute).serialize(tiles)  # PynamoDB's own, element by element
    assert TileListAttribute().serialize(tiles) == wire
    assert tiles_size(tiles) == value_size({"L": wire})


def test_tiles_not_of_the_packages_form_are_measured_and_written_by_pynamodb():
    from pynamodb_tables.room import tiles_size

    assert tiles_size([[[0, 0], [1]]]) is None and tiles_size([[(0, 0), [1, 1]]]) is None
    assert tiles_size([[[True, 0], [1, 1]]]) is None
