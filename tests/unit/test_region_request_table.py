"""The contract's RegionRequestTable rows, on moto and on DynamoDB Local, with a frozen clock."""

from datetime import timedelta

import pytest
from freezegun import freeze_time

from pynamodb_tables import (
    CompleteRegionException,
    GetRegionRequestItemException,
    InvalidRegionRequestException,
    InvalidRequestError,
    InvalidTileError,
    RegionAlreadyCompleteError,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    StartRegionException,
    TileState,
    UpdateRegionException,
    tiles_to_process,
)
from tests.support.backends import T0, T0_MS

DAY_S = 86_400
TILE_A = [[0, 0], [256, 256]]
TILE_B = [[256, 0], [256, 256]]
TILE_C = [[0, 256], [256, 256]]


def region(region_id: str = "r-1", image_id: str = "img-1", **attrs: object) -> RegionRequestItem:
    defaults = {"job_id": "job-1", "region_bounds": [[0, 0], [512, 512]], "tile_size": [256, 256],
                "tile_overlap": [0, 0], "total_tiles": 4}
    return RegionRequestItem(region_id=region_id, image_id=image_id, **{**defaults, **attrs})


def stored(backend, table: RegionRequestTable, region_id: str = "r-1", image_id: str = "img-1"):
    return backend.raw_item(table.table_name, image_id=image_id, region_id=region_id)


class TestStartRegionRequest:
    def test_new_region(self, backend, region_table):
        with freeze_time(T0):
            item = region_table.start_region_request(region(tile_format="NITF", region_status="FAILED"))
        assert item.start_time == T0_MS and item.last_updated_time == T0_MS
        assert item.expire_time.timestamp() == T0_MS // 1000 + DAY_S
        assert item.region_status == RequestStatus.STARTED
        assert (item.region_retry_count, item.succeeded_tile_count, item.failed_tile_count) == (0, 0, 0)
        assert (item.succeeded_tiles, item.failed_tiles, item.processing_duration) == ([], [], 0)
        assert item.region_bounds == [[0, 0], [512, 512]] and item.tile_size == [256, 256]
        assert (item.tile_format, item.job_id, item.total_tiles) == ("NITF", "job-1", 4)
        raw = stored(backend, region_table)
        assert raw["expire_time"] == {"N": str(T0_MS // 1000 + DAY_S)}
        assert raw["region_bounds"] == {"L": [{"L": [{"N": "0"}, {"N": "0"}]}, {"L": [{"N": "512"}, {"N": "512"}]}]}

    @pytest.mark.parametrize("outcome", [RequestStatus.FAILED, RequestStatus.PARTIAL, None])
    def test_restart_keeps_succeeded_tiles_and_clears_failed(self, region_table, outcome):
        with freeze_time(T0) as clock:
            first = region_table.start_region_request(region())
            region_table.add_tiles("img-1", "r-1", [TILE_A, TILE_B], TileState.SUCCEEDED)
            region_table.add_tile("img-1", "r-1", TILE_C, TileState.FAILED)
            if outcome is not None:  # None: the worker crashed while the region was running
                region_table.complete_region_request(first, outcome)
            clock.tick(timedelta(minutes=5))
            again = region_table.start_region_request(region(message="redrive"))
        assert again.region_retry_count == 1
        assert again.region_status == RequestStatus.STARTED
        assert (again.succeeded_tiles, again.succeeded_tile_count) == ([TILE_A, TILE_B], 2)
        assert (again.failed_tiles, again.failed_tile_count) == ([], 0)
        assert again.start_time == T0_MS + 300_000 and again.message == "redrive"
        assert region_table.start_region_request(region()).region_retry_count == 2

    def test_restart_ignores_stale_tiles_and_counts_on_the_item(self, region_table):
        region_table.start_region_request(region())
        region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)
        stale = region(succeeded_tiles=[], succeeded_tile_count=0, region_retry_count=0, failed_tile_count=3)
        again = region_table.start_region_request(stale)
        assert (again.succeeded_tiles, again.succeeded_tile_count) == ([TILE_A], 1)
        assert (again.failed_tile_count, again.region_retry_count) == (0, 1)

    def test_restart_racing_another_restart_counts_both(self, region_table, monkeypatch):
        from pynamodb_tables import region_request_table as module
        other = RegionRequestTable(region_table.table_name, host=region_table.host)
        real_transact = module.transact
        with freeze_time(T0) as clock:
            region_table.start_region_request(region())
            region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)

            def another_restart_first(*args, **kwargs):
                monkeypatch.setattr(module, "transact", real_transact)
                clock.tick(timedelta(milliseconds=5))
                other.start_region_request(region())  # another delivery restarts it just before ours
                return real_transact(*args, **kwargs)

            monkeypatch.setattr(module, "transact", another_restart_first)
            started = region_table.start_region_request(region())
        assert started.region_status == RequestStatus.STARTED
        # Each attempt starts after the last one: one millisecond past the other's, read on the same clock.
        assert started.start_time == T0_MS + 6 and started.region_retry_count == 2
        assert started.succeeded_tiles == [TILE_A]
        assert region_table.get_region_request("r-1", "img-1").attribute_values == started.attribute_values

    def test_queued_then_picked_up_is_not_a_retry(self, region_table):
        with freeze_time(T0) as clock:
            queued = region_table.start_region_request(region())
            clock.tick(timedelta(seconds=3))
            picked = region_table.start_region_request(region())
            clock.tick(timedelta(seconds=3))
            redelivered = region_table.start_region_request(picked)
        assert (queued.region_retry_count, picked.region_retry_count, redelivered.region_retry_count) == (0, 0, 0)
        assert redelivered.start_time == T0_MS + 6_000
        region_table.add_tile("img-1", "r-1", TILE_A, TileState.FAILED)
        assert region_table.start_region_request(region()).region_retry_count == 1

    def test_restart_after_an_untouched_restart_keeps_the_count(self, region_table):
        item = region_table.start_region_request(region())
        region_table.complete_region_request(item, RequestStatus.FAILED)
        assert region_table.start_region_request(region()).region_retry_count == 1
        assert region_table.start_region_request(region()).region_retry_count == 1  # redelivered before any work

    def test_success_region_delivered_again_replays(self, backend, region_table):
        item = region_table.start_region_request(region())
        region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)
        region_table.complete_region_request(item, RequestStatus.SUCCESS)
        before = stored(backend, region_table)
        again = region()
        replayed = region_table.start_region_request(again)
        assert replayed.region_status == again.region_status == RequestStatus.SUCCESS  # the caller's item too
        assert replayed.succeeded_tiles == [TILE_A] and replayed.region_retry_count == 0
        assert region_table.complete_region_request(again, RequestStatus.SUCCESS).region_status == "SUCCESS"
        with pytest.raises(RegionAlreadyCompleteError):
            region_table.complete_region_request(again, RequestStatus.FAILED)  # another outcome: refused
        assert stored(backend, region_table) == before


class TestCompleteRegionRequest:
    def test_sets_outcome_times_and_duration(self, region_table):
        with freeze_time(T0) as clock:
            item = region_table.start_region_request(region())
            clock.tick(timedelta(seconds=12, milliseconds=345))
            done = region_table.complete_region_request(item, RequestStatus.PARTIAL)
        assert done.region_status == RequestStatus.PARTIAL
        assert done.end_time == done.last_updated_time == T0_MS + 12_345
        assert done.processing_duration == 12

    def test_accepts_the_status_name(self, region_table):
        item = region_table.start_region_request(region())
        assert region_table.complete_region_request(item, "FAILED").region_status == "FAILED"

    def test_second_completion_changes_nothing(self, backend, region_table):
        with freeze_time(T0) as clock:
            item = region_table.start_region_request(region())
            before_end = region_table.complete_region_request(item, RequestStatus.SUCCESS).end_time
            before = stored(backend, region_table)
            clock.tick(timedelta(seconds=9))
            with pytest.raises(RegionAlreadyCompleteError) as raised:
                region_table.complete_region_request(item, RequestStatus.FAILED)
            assert region_table.complete_region_request(item, RequestStatus.SUCCESS).end_time == before_end
        assert isinstance(raised.value, CompleteRegionException) and isinstance(raised.value, StartRegionException)
        assert raised.value.item.region_status == RequestStatus.SUCCESS
        assert stored(backend, region_table) == before

    def test_never_rewrites_tiles(self, region_table):
        item = region_table.start_region_request(region())
        region_table.add_tiles("img-1", "r-1", [TILE_A, TILE_B], TileState.SUCCEEDED)
        item.succeeded_tiles = [TILE_C]
        item.succeeded_tile_count = 9
        item.failed_tiles = [TILE_C]
        done = region_table.complete_region_request(item, RequestStatus.SUCCESS)
        assert (done.succeeded_tiles, done.succeeded_tile_count) == ([TILE_A, TILE_B], 2)
        assert (done.failed_tiles, done.failed_tile_count) == ([], 0)

    @pytest.mark.parametrize("status", ["STARTED", RequestStatus.IN_PROGRESS, "DONE", "success", None, 3])
    def test_status_must_be_an_outcome(self, backend, region_table, status):
        item = region_table.start_region_request(region())
        before = stored(backend, region_table)
        with pytest.raises(InvalidRegionRequestException, match="status"):
            region_table.complete_region_request(item, status)
        assert stored(backend, region_table) == before

    def test_unknown_region(self, backend, region_table):
        with pytest.raises(CompleteRegionException, match="unknown region"):
            region_table.complete_region_request(region(), RequestStatus.SUCCESS)
        assert stored(backend, region_table) is None


class TestUpdateRegionRequest:
    def test_writes_attributes_and_last_updated_time(self, region_table):
        with freeze_time(T0) as clock:
            item = region_table.start_region_request(region())
            clock.tick(timedelta(seconds=4))
            item.message = "halfway"
            item.region_status = RequestStatus.IN_PROGRESS
            updated = region_table.update_region_request(item)
        assert (updated.message, updated.region_status) == ("halfway", "IN_PROGRESS")
        assert updated.last_updated_time == T0_MS + 4_000

    def test_stale_copy_never_rolls_back_tiles_or_retry_count(self, region_table):
        stale = region_table.start_region_request(region())
        region_table.add_tile("img-1", "r-1", TILE_C, TileState.FAILED)
        region_table.start_region_request(region())  # a retry: count 1, failed tiles cleared
        region_table.add_tiles("img-1", "r-1", [TILE_A, TILE_B], TileState.SUCCEEDED)
        region_table.add_tile("img-1", "r-1", TILE_C, TileState.FAILED)
        stale.message = "late"
        updated = region_table.update_region_request(stale)
        assert updated.message == "late"
        assert (updated.succeeded_tiles, updated.succeeded_tile_count) == ([TILE_A, TILE_B], 2)
        assert (updated.failed_tiles, updated.failed_tile_count) == ([TILE_C], 1)
        assert updated.region_retry_count == 1

    def test_stale_status_never_reopens_a_finished_region(self, backend, region_table):
        stale = region_table.start_region_request(region())
        region_table.complete_region_request(region(), RequestStatus.SUCCESS)  # by another worker
        before = stored(backend, region_table)
        with pytest.raises(UpdateRegionException, match="already complete") as raised:
            region_table.update_region_request(stale)
        assert raised.value.item.region_status == RequestStatus.SUCCESS
        assert stored(backend, region_table) == before

    def test_outcome_status_is_refused(self, backend, region_table):
        item = region_table.start_region_request(region())
        item.region_status = RequestStatus.SUCCESS
        with pytest.raises(InvalidRegionRequestException, match="complete_region_request"):
            region_table.update_region_request(item)
        assert stored(backend, region_table)["region_status"] == {"S": "STARTED"}

    def test_unknown_region_raises_and_creates_nothing(self, backend, region_table):
        with pytest.raises(UpdateRegionException, match="unknown region"):
            region_table.update_region_request(region(message="x"))
        assert stored(backend, region_table) is None


class TestTotalTiles:
    """``total_tiles`` is the region's: a redelivery that counts only the tiles it processed keeps it."""

    def recorded(self, region_table, succeeded=3, failed=1):
        item = region_table.start_region_request(region(total_tiles=succeeded + failed))
        tiles = [[[16 * n, 0], [16, 16]] for n in range(succeeded + failed)]
        region_table.add_tiles("img-1", "r-1", tiles[:succeeded], TileState.SUCCEEDED)
        region_table.add_tiles("img-1", "r-1", tiles[succeeded:], TileState.FAILED)
        return item

    @pytest.mark.parametrize(("given", "kept"), [(0, 4), (1, 4), (4, 4), (6, 6)])
    def test_never_below_the_region_total_or_its_recorded_tiles(self, backend, region_table, given, kept):
        item = self.recorded(region_table)
        item.total_tiles, item.succeeded_tile_count, item.failed_tile_count = given, given, 0  # (the runner's)
        returned = region_table.update_region_request(item)
        stored_total = int(stored(backend, region_table)["total_tiles"]["N"])
        assert returned.total_tiles == item.total_tiles == stored_total == kept
        assert (item.succeeded_tile_count, item.failed_tile_count) == (3, 1)  # the caller's item: as stored

    def test_above_the_recorded_tiles_without_a_stored_total(self, backend, region_table):
        region_table.start_region_request(region(total_tiles=None))
        region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)
        assert region_table.update_region_request(region(total_tiles=0)).total_tiles == 1
        assert region_table.update_region_request(region(total_tiles=9)).total_tiles == 9

    def test_a_finished_regions_outcome_on_the_item_is_kept_another_refused(self, backend, region_table):
        item = self.recorded(region_table)
        region_table.complete_region_request(item, RequestStatus.PARTIAL)
        item.total_tiles, item.message = 0, "delivered again"
        assert region_table.update_region_request(item).region_status == "PARTIAL"
        assert stored(backend, region_table)["message"] == {"S": "delivered again"}
        item.region_status = RequestStatus.SUCCESS
        before = stored(backend, region_table)
        with pytest.raises(InvalidRegionRequestException, match="an outcome the region does not have"):
            region_table.update_region_request(item)
        assert stored(backend, region_table) == before


class TestGetRegionRequest:
    def test_stored_item_or_none(self, region_table):
        region_table.start_region_request(region())
        assert region_table.get_region_request("r-1", "img-1").job_id == "job-1"
        assert region_table.get_region_request("r-2", "img-1") is None
        assert region_table.get_region_request("r-1", "img-2") is None

    def test_keys_checked(self, region_table):
        with pytest.raises(InvalidRequestError, match="region_id"):
            region_table.get_region_request("", "img-1")


class TestAddTile:
    def test_appends_counts_and_touches(self, region_table):
        with freeze_time(T0) as clock:
            region_table.start_region_request(region())
            clock.tick(timedelta(seconds=2))
            item = region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)
            clock.tick(timedelta(seconds=2))
            item = region_table.add_tile("img-1", "r-1", ((256, 0), (256, 256)), "succeeded")
            failed = region_table.add_tile("img-1", "r-1", TILE_C, TileState.FAILED)
        assert (item.succeeded_tiles, item.succeeded_tile_count) == ([TILE_A, TILE_B], 2)
        assert (failed.failed_tiles, failed.failed_tile_count) == ([TILE_C], 1)
        assert failed.last_updated_time == T0_MS + 4_000

    def test_duplicate_tile_changes_nothing(self, backend, region_table):
        with freeze_time(T0) as clock:
            region_table.start_region_request(region())
            region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)
            before = stored(backend, region_table)
            clock.tick(timedelta(seconds=5))
            again = region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)
        assert (again.succeeded_tiles, again.succeeded_tile_count) == ([TILE_A], 1)
        assert stored(backend, region_table) == before

    def test_same_tile_may_fail_then_succeed(self, region_table):
        region_table.start_region_request(region())
        region_table.add_tile("img-1", "r-1", TILE_A, TileState.FAILED)
        item = region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)
        assert (item.succeeded_tile_count, item.failed_tile_count) == (1, 1)

    @pytest.mark.parametrize("tile", [
        [[0, 0], [0, 256]], [[0, 0], [256, -1]], [[-1, 0], [256, 256]], [[0, 0, 0], [256, 256]],
        [[0, 0]], [[0, 0], [256, 256], [1, 1]], [["0", 0], [256, 256]], [[0.5, 0], [256, 256]],
        [[True, 0], [256, 256]], "0,0,256,256", None, [[0, 0], None],
    ])
    def test_malformed_tile_writes_nothing(self, backend, region_table, tile):
        region_table.start_region_request(region())
        before = stored(backend, region_table)
        with pytest.raises(InvalidTileError, match="tile") as raised:
            region_table.add_tile("img-1", "r-1", tile, TileState.SUCCEEDED)
        assert isinstance(raised.value, UpdateRegionException)
        with pytest.raises(InvalidTileError):
            region_table.add_tiles("img-1", "r-1", [TILE_A, tile], TileState.SUCCEEDED)
        assert stored(backend, region_table) == before

    def test_unknown_state(self, backend, region_table):
        region_table.start_region_request(region())
        with pytest.raises(InvalidRequestError, match="tile state"):
            region_table.add_tile("img-1", "r-1", TILE_A, "done")

    def test_unknown_region_raises_and_creates_nothing(self, backend, region_table):
        with pytest.raises(UpdateRegionException, match="unknown region") as raised:
            region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)
        assert raised.value.__cause__ is not None
        assert stored(backend, region_table) is None


class TestAddTiles:
    def test_skips_recorded_and_repeated_tiles(self, region_table):
        region_table.start_region_request(region())
        region_table.add_tile("img-1", "r-1", TILE_B, TileState.SUCCEEDED)
        item = region_table.add_tiles("img-1", "r-1", [TILE_A, TILE_B, TILE_A, TILE_C], TileState.SUCCEEDED)
        assert item.succeeded_tiles == [TILE_B, TILE_A, TILE_C]
        assert item.succeeded_tile_count == 3

    def test_more_tiles_than_one_write_holds(self, region_table):
        tiles = [[[x * 16, y * 16], [16, 16]] for x in range(20) for y in range(20)]
        region_table.start_region_request(region())
        region_table.add_tiles("img-1", "r-1", tiles[:50], TileState.SUCCEEDED)
        item = region_table.add_tiles("img-1", "r-1", tiles, TileState.SUCCEEDED)
        assert item.succeeded_tile_count == 400
        assert sorted(item.succeeded_tiles) == sorted(tiles)
        again = region_table.add_tiles("img-1", "r-1", tiles, TileState.SUCCEEDED)
        assert again.succeeded_tile_count == 400

    def test_an_empty_list_is_refused_before_any_write(self, backend, region_table):
        """(The model runner v3's rule: its tile workers call it once per state, when a region's tiles end.)"""
        region_table.start_region_request(region())
        before = stored(backend, region_table)
        for region_id in ("r-1", "r-9"):  # (a known region and an unknown one: the same refusal, first)
            with pytest.raises(InvalidTileError, match="at least one tile") as refused:
                region_table.add_tiles("img-1", region_id, iter([]), TileState.FAILED)
            assert isinstance(refused.value, UpdateRegionException)
        assert stored(backend, region_table) == before

    def test_unknown_region(self, backend, region_table):
        with pytest.raises(UpdateRegionException, match="unknown region"):
            region_table.add_tiles("img-1", "r-1", [TILE_A, TILE_B], TileState.SUCCEEDED)
        assert stored(backend, region_table) is None


class TestListRegions:
    def test_every_region_of_the_image_across_pages(self, region_table):
        big = "x" * 300_000  # four of these exceed one 1 MB query page
        for n in range(4):
            region_table.start_region_request(region(f"r-{n}", message=big))
        region_table.start_region_request(region("r-other", image_id="img-2"))
        regions = region_table.list_regions("img-1")
        assert sorted(r.region_id for r in regions) == ["r-0", "r-1", "r-2", "r-3"]
        assert region_table.list_regions("img-3") == []

    def test_failure_names_the_operation(self, backend):
        table = RegionRequestTable("no-such-table", host=backend.host)
        with pytest.raises(GetRegionRequestItemException, match="list_regions"):
            table.list_regions("img-1")


class TestBadRegionItems:
    @pytest.mark.parametrize(("attrs", "complaint"), [
        ({"region_id": ""}, "region_id"),
        ({"image_id": None}, "image_id"),
        ({"region_bounds": [[0, 0], [0, 10]]}, "region_bounds"),
        ({"region_bounds": [0, 0, 10, 10]}, "region_bounds"),
        ({"tile_size": [0, 256]}, "tile_size"),
        ({"tile_size": [256]}, "tile_size"),
        ({"tile_overlap": [-1, 0]}, "tile_overlap"),
        ({"total_tiles": "4"}, "total_tiles"),
        ({"total_tiles": -1}, "total_tiles"),
        ({"region_status": "DONE"}, "status"),
        ({"succeeded_tiles": [[[0, 0], [0, 1]]]}, "succeeded_tiles"),
    ])
    def test_rejected_before_any_write(self, backend, region_table, attrs, complaint):
        item = region(**attrs)
        for call in (region_table.start_region_request, region_table.update_region_request):
            with pytest.raises(InvalidRegionRequestException, match=complaint):
                call(item)
        with pytest.raises(InvalidRegionRequestException, match=complaint):
            region_table.complete_region_request(item, RequestStatus.SUCCESS)
        assert backend.item_count(region_table.table_name) == 0

    def test_not_a_region_item(self, region_table):
        with pytest.raises(InvalidRegionRequestException, match="RegionRequestItem"):
            region_table.start_region_request({"region_id": "r", "image_id": "i"})  # type: ignore[arg-type]


class TestTilesToProcess:
    def test_resumed_region_redoes_only_what_did_not_succeed(self, region_table):
        region_table.start_region_request(region())
        region_table.add_tile("img-1", "r-1", TILE_A, TileState.SUCCEEDED)
        region_table.add_tile("img-1", "r-1", TILE_B, TileState.FAILED)
        resumed = region_table.start_region_request(region())
        assert tiles_to_process(resumed, [TILE_A, TILE_B, TILE_C, TILE_B]) == [TILE_B, TILE_C]

    def test_new_or_missing_region_processes_everything(self, region_table):
        fresh = region_table.start_region_request(region())
        assert tiles_to_process(fresh, [TILE_C, TILE_A]) == [TILE_C, TILE_A]
        assert tiles_to_process(None, [(tuple(TILE_A[0]), tuple(TILE_A[1]))]) == [TILE_A]

    def test_malformed_tiles_rejected(self):
        with pytest.raises(InvalidTileError):
            tiles_to_process(None, [[[0, 0], [0, 0]]])
