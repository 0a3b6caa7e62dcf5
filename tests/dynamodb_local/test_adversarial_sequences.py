"""Sequences a fleet can meet where a guarantee once broke (issue 14), on DynamoDB Local.

Each needs a stale item, a near-full item, a value in an unusual but accepted form, or an item
another writer left; each was found by an adversarial read, not by the chaos tests.
"""

import copy
from decimal import Decimal

import botocore.session
import pytest

from pynamodb_tables import (
    CompleteRegionException,
    EndImageException,
    GetImageRequestItemException,
    GetRegionRequestItemException,
    InvalidRequestError,
    JobItem,
    JobTable,
    PynamoDBTablesError,
    RegionFullError,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    UpdateImageException,
    UpdateRegionException,
    complete_region,
)
from pynamodb_tables.room import ITEM_LIMIT, item_size
from tests.support.faults import ArmedFault, CallCounter, clients_of
from tests.support.seed_forms import Int64

pytestmark = pytest.mark.dynamodb_local

OUTCOMES = (RequestStatus.SUCCESS, RequestStatus.PARTIAL, RequestStatus.FAILED)


@pytest.fixture
def tables(local_tables):
    return local_tables  # on DynamoDB Local only, names of the test's own


@pytest.fixture
def client(dynamodb_local):
    """A plain botocore client: another writer, around the package."""
    return botocore.session.get_session().create_client("dynamodb", endpoint_url=dynamodb_local.endpoint)


def started(tables, regions=1):
    job_table, region_table = tables
    job_table.start_image_request(JobItem("img", "job", region_count=regions))
    return region_table.start_region_request(RegionRequestItem("r", "img", "job"))


def grid(count, offset=0):
    return [[[16 * ((n + offset) % 1000), 16 * ((n + offset) // 1000)], [16, 16]] for n in range(count)]


def stored_size(client, table, **key):
    item = client.get_item(TableName=table, Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True)["Item"]
    return item_size(item)


def fill_around_the_package(client, region_table, room):
    """Most of the region's room taken by another writer (a message), so that tiles fill the rest quickly."""
    size = stored_size(client, region_table.table_name, image_id="img", region_id="r")
    client.update_item(TableName=region_table.table_name, Key={"image_id": {"S": "img"}, "region_id": {"S": "r"}},
                       UpdateExpression="SET message = :m",
                       ExpressionAttributeValues={":m": {"S": "m" * (ITEM_LIMIT - size - room)}})


def held(item):
    return {name: value for name, value in item.attribute_values.items() if value is not None}


# 1. A region that can never complete: every write but a state change kept within the budget,
#    with no allowance that accumulates; completion and restart always fit.
class TestARegionCanAlwaysComplete:
    def creep_with_messages(self, region_table, client):
        """The message grown 200 bytes at a time, then 10, until the package (or DynamoDB) refuses it,
        starting from the stored message, 12 KB short of DynamoDB's limit (or as it is, if longer)."""
        size = stored_size(client, region_table.table_name, image_id="img", region_id="r")
        message = region_table.get_region_request("r", "img").message or ""
        length = max(len(message), len(message) + ITEM_LIMIT - 12 * 1024 - size)
        refusals = 0
        for step in (200, 10):
            refused = 0
            while refused < 3:
                try:
                    region_table.update_region_request(RegionRequestItem("r", "img", message="m" * length))
                    length += step
                except UpdateRegionException:
                    refused += 1
                    length += 1
            refusals += refused
            length -= 3 + step
        return refusals

    @pytest.mark.parametrize("outcome", OUTCOMES)
    def test_after_messages_that_grow_a_little_each_time(self, tables, client, outcome):
        job_table, region_table = tables
        started(tables)
        assert self.creep_with_messages(region_table, client) > 0
        complete_region(job_table, region_table, RegionRequestItem("r", "img"), outcome)
        assert region_table.get_region_request("r", "img").region_status == outcome.value

    @pytest.mark.parametrize("call", ["complete_region_request", "recorder.complete"])
    def test_every_completion_after_the_creep(self, tables, client, call):
        job_table, region_table = tables
        region = started(tables)
        self.creep_with_messages(region_table, client)
        if call == "complete_region_request":  # the seed's two calls, as the model runner makes them
            region_table.complete_region_request(RegionRequestItem("r", "img"), RequestStatus.FAILED)
            job_table.complete_region_request("img", error=True)
        else:
            TileRecorder(region_table, "img", "r", region=region).complete(job_table, RequestStatus.FAILED)
        restarted = region_table.start_region_request(region_table.get_region_request("r", "img"))
        assert restarted.region_retry_count == 1
        complete_region(job_table, region_table, restarted, RequestStatus.SUCCESS)
        assert job_table.get_image_request("img").region_success == 1

    def test_after_tiles_written_a_few_at_a_time(self, tables, client):
        job_table, region_table = tables
        started(tables)
        fill_around_the_package(client, region_table, room=30_000)
        recorded = 0
        for batch in (140, 10, 1):  # the no-read path's writes until full, then smaller ones
            with pytest.raises(RegionFullError):
                for _ in range(1000):
                    region_table.add_tiles("img", "r", grid(batch, offset=recorded), TileState.SUCCEEDED)
                    recorded += batch
        assert self.creep_with_messages(region_table, client) > 0
        for outcome in (RequestStatus.FAILED, RequestStatus.PARTIAL, RequestStatus.SUCCESS):
            complete_region(job_table, region_table, RegionRequestItem("r", "img"), outcome)
            if outcome is not RequestStatus.SUCCESS:
                region_table.start_region_request(region_table.get_region_request("r", "img"))
        job = job_table.get_image_request("img")
        assert (job.region_success, job.region_error) == (1, 0)


# 2. A stale item written back never moves the region back to its attempt, and a recorder holding a
#    region from that attempt never doubles a tile.
def test_a_stale_item_neither_rolls_the_attempt_back_nor_doubles_a_tile(tables):
    job_table, region_table = tables
    f1, f2 = grid(2)
    item_a = started(tables)  # worker A keeps its item
    region_a = region_table.add_tile("img", "r", f1, TileState.FAILED)
    recorder_a = TileRecorder(region_table, "img", "r", region=region_a)
    complete_region(job_table, region_table, RegionRequestItem("r", "img"), RequestStatus.FAILED)
    redriven = region_table.start_region_request(region_table.get_region_request("r", "img"))  # worker B
    region_table.add_tile("img", "r", f2, TileState.FAILED)
    region_table.update_region_request(item_a)  # A, a slow duplicate, writes back its old item
    stored = region_table.get_region_request("r", "img")
    assert (stored.start_time, stored.expire_time, stored.end_time) == \
        (redriven.start_time, redriven.expire_time, redriven.end_time)
    recorder_a.record(f2, TileState.FAILED)
    recorder_a.flush()
    stored = region_table.get_region_request("r", "img")
    assert (stored.failed_tiles, stored.failed_tile_count) == ([f2], 1)


# 3. Numbers in every accepted form, on the item a caller hands back.
NUMBER_FORMS = [pytest.param(Decimal, id="Decimal"), pytest.param(Int64, id="numpy-style")]


@pytest.mark.parametrize("form", NUMBER_FORMS)
@pytest.mark.parametrize("attribute", ["start_time", "last_updated_time", "region_retry_count", "failed_tile_count"])
class TestNumbersInAcceptedForms:
    def region_in_form(self, region_table, form, attribute):
        region = region_table.get_region_request("r", "img")
        setattr(region, attribute, form(int(getattr(region, attribute))))
        return region

    def test_complete_region(self, tables, form, attribute):
        job_table, region_table = tables
        started(tables)
        region = self.region_in_form(region_table, form, attribute)
        assert complete_region(job_table, region_table, region, RequestStatus.SUCCESS).region_success == 1
        assert held(region) == held(region_table.get_region_request("r", "img"))

    def test_start_region_request(self, tables, form, attribute):
        _job_table, region_table = tables
        started(tables)
        region_table.add_tile("img", "r", grid(1)[0], TileState.FAILED)
        region = self.region_in_form(region_table, form, attribute)
        assert region_table.start_region_request(region).region_retry_count == 1

    def test_recorder_flush(self, tables, form, attribute):
        job_table, region_table = tables
        started(tables)
        recorder = TileRecorder(region_table, "img", "r", region=self.region_in_form(region_table, form, attribute))
        recorder.record(grid(1)[0], TileState.SUCCEEDED)
        assert recorder.flush().succeeded_tile_count == 1
        assert recorder.complete(job_table, RequestStatus.SUCCESS).region_success == 1


# 4. A full FAILED region restarts from the very item the table returned.
@pytest.mark.parametrize("outcome", [RequestStatus.FAILED, RequestStatus.PARTIAL])
def test_a_full_region_restarts_from_the_item_the_table_returned(tables, client, outcome):
    job_table, region_table = tables
    started(tables)
    fill_around_the_package(client, region_table, room=30_000)
    recorded = 0
    with pytest.raises(RegionFullError):
        for _ in range(1000):
            region_table.add_tiles("img", "r", grid(140, offset=recorded), TileState.SUCCEEDED)
            recorded += 140
    current = len(region_table.get_region_request("r", "img").message)
    low, high = current, current + 40_000  # fill what is left: the longest message the package takes
    while low < high:
        middle = (low + high + 1) // 2
        try:
            region_table.update_region_request(RegionRequestItem("r", "img", message="m" * middle))
            low = middle
        except UpdateRegionException:
            high = middle - 1
    region_table.update_region_request(RegionRequestItem("r", "img", message="m" * low))
    complete_region(job_table, region_table, RegionRequestItem("r", "img"), outcome)
    restarted = region_table.start_region_request(region_table.get_region_request("r", "img"))
    assert (restarted.region_status, restarted.region_retry_count) == ("STARTED", 1)
    complete_region(job_table, region_table, restarted, RequestStatus.SUCCESS)


# 5. An item another writer stored with expire_time in other units cannot be read: the package's error.
@pytest.mark.parametrize("expire_time", ["1E+20", "1930367167891000000", "1930367167891"])
class TestItemsThatCannotBeRead:
    def test_job(self, tables, client, expire_time):
        job_table, _ = tables
        client.put_item(TableName=job_table.table_name,
                        Item={"image_id": {"S": "img"}, "expire_time": {"N": expire_time}})
        with pytest.raises(GetImageRequestItemException, match="cannot be read") as raised:
            job_table.get_image_request("img")
        assert raised.value.__cause__ is not None
        with pytest.raises(EndImageException, match="cannot be read"):
            job_table.end_image_request("img")

    def test_region(self, tables, client, expire_time):
        _, region_table = tables
        client.put_item(TableName=region_table.table_name,
                        Item={"image_id": {"S": "img"}, "region_id": {"S": "r"}, "region_status": {"S": "STARTED"},
                              "expire_time": {"N": expire_time}})
        with pytest.raises(GetRegionRequestItemException, match="cannot be read"):
            region_table.get_region_request("r", "img")
        with pytest.raises(GetRegionRequestItemException, match="cannot be read"):
            region_table.list_regions("img")
        with pytest.raises(UpdateRegionException, match="written, but the stored item cannot be read"):
            region_table.add_tile("img", "r", grid(1)[0], TileState.SUCCEEDED)


# 6. After complete_region the caller's item holds what is stored, whatever it was given.
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_the_callers_item_holds_what_is_stored_after_complete_region(tables, outcome):
    job_table, region_table = tables
    region = started(tables)
    region_table.add_tile("img", "r", grid(1)[0], TileState.FAILED)
    region = region_table.get_region_request("r", "img")
    region.message = "Failed to process image region: model refused"  # as the model runner's failure path does
    region.failed_tile_count = 7
    region.total_tiles = 4
    complete_region(job_table, region_table, region, outcome)
    assert held(region) == held(region_table.get_region_request("r", "img"))
    assert region.failed_tile_count == 1


# 7. A region_id longer than DynamoDB's sort key allows is bad input, refused before any request.
@pytest.mark.parametrize("call", [
    lambda regions, region_id: regions.add_tile("img", region_id, grid(1)[0], TileState.SUCCEEDED),
    lambda regions, region_id: regions.add_tiles("img", region_id, grid(3), TileState.SUCCEEDED),
    lambda regions, region_id: regions.get_region_request(region_id, "img"),
    lambda regions, region_id: TileRecorder(regions, "img", region_id),
    lambda regions, region_id: regions.start_region_request(RegionRequestItem(region_id, "img")),
])
def test_a_region_id_too_long_for_dynamodb_is_refused_before_any_request(tables, call):
    _, region_table = tables
    with CallCounter(region_table.clients()) as counter, pytest.raises(InvalidRequestError, match="1024"):
        call(region_table, "r" * 1025)
    assert not counter.calls


# -- the suspected cases, decided ----------------------------------------------------------------

def test_a_job_item_keeps_room_to_end(tables):
    job_table, _ = tables
    job_table.start_image_request(JobItem("img", "job", region_count=1))
    with pytest.raises(UpdateImageException, match="no room"):
        job_table.update_image_request(JobItem("img", roi_wkt="P" * (ITEM_LIMIT - 500)))
    with pytest.raises(InvalidRequestError, match="no room"):
        job_table.start_image_request(JobItem("img-2", outputs="o" * (ITEM_LIMIT - 500)))
    job_table.update_image_request(JobItem("img", roi_wkt="P" * (ITEM_LIMIT - 20 * 1024)))
    assert job_table.end_image_request("img").end_time is not None


def test_a_duplicate_adding_tiles_steadily_never_starves_the_completion(tables):
    import threading

    job_table, region_table = tables
    region = started(tables)
    stop = threading.Event()
    other = RegionRequestTable(region_table.table_name, host=region_table.host, read_timeout_seconds=29)

    def duplicate():
        n = 0
        while not stop.is_set():
            other.add_tile("img", "r", grid(1, offset=n)[0], TileState.SUCCEEDED)
            n += 1

    worker = threading.Thread(target=duplicate)
    worker.start()
    try:
        for _ in range(5):
            recorder = TileRecorder(region_table, "img", "r", region=region)
            recorder.record(grid(1, offset=100_000)[0], TileState.FAILED)
            job = recorder.complete(job_table, RequestStatus.PARTIAL)
            assert job.region_error == 1
            region = region_table.start_region_request(region_table.get_region_request("r", "img"))
    finally:
        stop.set()
        worker.join()
    stored = region_table.get_region_request("r", "img")
    assert stored.succeeded_tile_count == len(stored.succeeded_tiles) == len({str(t) for t in stored.succeeded_tiles})


def test_a_recorder_flush_interval_must_be_a_finite_number(tables):
    _, region_table = tables
    for bad in (float("nan"), float("inf"), -1):
        with pytest.raises(InvalidRequestError, match="flush_interval"):
            TileRecorder(region_table, "img", "r", flush_interval=bad)


@pytest.mark.parametrize("attribute", ["failed_tiles", "succeeded_tiles", "failed_tile_count"])
def test_a_tile_list_stored_as_null_by_another_writer(tables, client, attribute):
    job_table, region_table = tables
    started(tables)
    client.update_item(TableName=region_table.table_name, Key={"image_id": {"S": "img"}, "region_id": {"S": "r"}},
                       UpdateExpression="SET #a = :null", ExpressionAttributeNames={"#a": attribute},
                       ExpressionAttributeValues={":null": {"NULL": True}})
    region = region_table.add_tile("img", "r", grid(1)[0], TileState.FAILED)
    assert (region.failed_tiles, region.failed_tile_count) == (grid(1), 1)
    region = region_table.add_tiles("img", "r", grid(300), TileState.SUCCEEDED)
    assert region.succeeded_tile_count == 300
    assert complete_region(job_table, region_table, region, RequestStatus.PARTIAL).region_error == 1


def test_an_update_landed_then_resent_after_a_completion_says_what_happened(tables):
    job_table, region_table = tables
    started(tables)
    fault = ArmedFault(clients_of(job_table, region_table))
    other = RegionRequestTable(region_table.table_name, host=region_table.host, read_timeout_seconds=29)
    other_jobs = JobTable(job_table.table_name, host=job_table.host, read_timeout_seconds=29)
    fault.arm("lost-response", between=lambda: complete_region(other_jobs, other, RegionRequestItem("r", "img"),
                                                             RequestStatus.SUCCESS))
    item = RegionRequestItem("r", "img", message="working", region_status=RequestStatus.IN_PROGRESS)
    with pytest.raises(UpdateRegionException) as raised:
        region_table.update_region_request(item)
    assert "may have landed" in str(raised.value) and "not changed" not in str(raised.value)
    assert raised.value.item.region_status == "SUCCESS"
    assert region_table.get_region_request("r", "img").message == "working"


def test_copy_is_untouched_by_a_refusal(tables):
    """(A refusal leaves the caller's item as it was, also for the numbers-in-forms path.)"""
    job_table, region_table = tables
    started(tables)
    complete_region(job_table, region_table, RegionRequestItem("r", "img"), RequestStatus.SUCCESS)
    region = region_table.get_region_request("r", "img")
    region.start_time = Decimal(region.start_time)
    before = copy.deepcopy(region.attribute_values)
    with pytest.raises(PynamoDBTablesError):
        region_table.complete_region_request(region, RequestStatus.FAILED)  # refused: another outcome
    assert region.attribute_values == before


def test_late_tiles_from_a_stale_copy_are_recorded_when_the_job_is_missing(tables):
    """A recorder holding a running copy of an attempt that has ended since, completing with no job: its
    tiles are recorded as late tiles (as from a fresh copy) and the missing job is the error. (Found by
    the model-based test: both writes of the transaction refused, the job's refusal raised first.)"""
    job_table, region_table = tables
    region = region_table.start_region_request(RegionRequestItem("r", "img", "job"))
    stale = copy.deepcopy(region)
    for _ in range(2):  # (ended, restarted, ended again: the copy's attempt is long gone)
        region = region_table.complete_region_request(region, RequestStatus.FAILED)
        region = region_table.start_region_request(region)
    region_table.complete_region_request(region, RequestStatus.FAILED)
    recorder = TileRecorder(region_table, "img", "r", region=stale)
    for tile in grid(2):
        recorder.record(tile, TileState.SUCCEEDED)
    with pytest.raises(CompleteRegionException, match="job"):
        recorder.complete(job_table, RequestStatus.SUCCESS)
    assert region_table.get_region_request("r", "img").succeeded_tiles == grid(2)
