"""Observing operations (issue 18): one event per public operation, in the calling thread, with the
requests it sent, its resends by cause and the capacity DynamoDB reported; on DynamoDB Local, with
faults injected below the package (tests/support/faults.py)."""

import contextlib
import functools
import logging
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Tuple

import pytest

from pynamodb_tables import (
    ImageRequestExistsError,
    InvalidRequestError,
    JobItem,
    JobTable,
    OperationEvent,
    PynamoDBTablesError,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    complete_region,
    subscribe,
)
from pynamodb_tables.observing import RETRY_CAUSES, observed, tally
from pynamodb_tables.store import store_of
from pynamodb_tables.testing import create_tables
from tests.support.faults import FaultInjector, clients_of
from tests.support.workers import in_threads

pytestmark = pytest.mark.dynamodb_local

Tables = Tuple[JobTable, RegionRequestTable]
TILE = [[0, 0], [512, 512]]


@pytest.fixture(scope="module")
def tables(dynamodb_local: Any) -> Iterator[Tables]:
    """Two tables for the module's tests (each test works on images of its own)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            env.setenv(name, value)
        pair = create_tables(dynamodb_local.endpoint)
        yield pair
        for table in pair:
            table.model.delete_table()


@contextlib.contextmanager
def listening() -> Iterator[List[OperationEvent]]:
    """The events of the operations run inside."""
    events: List[OperationEvent] = []
    unsubscribe = subscribe(events.append)
    try:
        yield events
    finally:
        unsubscribe()


@contextlib.contextmanager
def faulted(tables: Tables, kind: str, api: str) -> Iterator[FaultInjector]:
    """The next ``api`` request answered with fault ``kind``."""
    injector = FaultInjector(kind, every=1, operations={api}, limit=1).install(clients_of(*tables))
    try:
        yield injector
    finally:
        injector.remove()


def new_image(tables: Tables, regions: int = 1) -> Tuple[str, List[RegionRequestItem]]:
    """A started job and its started regions (outside any listener)."""
    jobs, region_table = tables
    image_id = f"img-{uuid.uuid4().hex[:8]}"
    jobs.start_image_request(JobItem(image_id, "job", region_count=regions))
    return image_id, [region_table.start_region_request(RegionRequestItem(f"r-{n}", image_id, "job"))
                      for n in range(regions)]


class Case(NamedTuple):
    """A public operation: how to prepare it, run it, which request to fault, and its event without faults."""

    operation: str
    api: str  # the DynamoDB request a fault is injected on
    prepare: Callable[[Tables], Callable[[], Any]]  # returns the call to observe
    sends: int
    units: Dict[str, Tuple[float, float]]  # "jobs" / "regions" -> (read, write) on DynamoDB Local


def get_region(tables: Tables) -> Callable[[], Any]:
    image_id, [region] = new_image(tables)
    return lambda: tables[1].get_region_request(region.region_id, image_id)


def add_tile(tables: Tables) -> Callable[[], Any]:
    image_id, [region] = new_image(tables)
    return lambda: tables[1].add_tile(image_id, region.region_id, TILE, TileState.SUCCEEDED)


def count_region(tables: Tables) -> Callable[[], Any]:
    """The model runner's job call, tied to the region its thread started: one conditional update."""
    image_id, _ = new_image(tables)
    return lambda: tables[0].complete_region_request(image_id, False)


def count_bare(tables: Tables) -> Callable[[], Any]:
    """A bare counter (the thread's last start was another image's): a transaction and a read back."""
    image_id, _ = new_image(tables)
    tables[1].start_region_request(RegionRequestItem("r-0", f"other-{image_id}", "job"))
    return lambda: tables[0].complete_region_request(image_id, False)


def complete(tables: Tables) -> Callable[[], Any]:
    _, [region] = new_image(tables)
    return lambda: complete_region(*tables, region, RequestStatus.SUCCESS)


def recorder_with_tiles(tables: Tables) -> TileRecorder:
    image_id, [region] = new_image(tables)
    recorder = TileRecorder(tables[1], image_id, region.region_id, region=region)
    recorder.record(TILE, TileState.SUCCEEDED)
    recorder.record([[512, 0], [512, 512]], TileState.FAILED)
    return recorder


def flush(tables: Tables) -> Callable[[], Any]:
    return recorder_with_tiles(tables).flush


def recorder_complete(tables: Tables) -> Callable[[], Any]:
    recorder = recorder_with_tiles(tables)
    return lambda: recorder.complete(tables[0], RequestStatus.PARTIAL)


CASES = [
    Case("get_region_request", "GetItem", get_region, 1, {"regions": (1.0, 0.0)}),
    Case("add_tile", "UpdateItem", add_tile, 1, {"regions": (0.0, 1.0)}),
    Case("complete_region_request", "UpdateItem", count_region, 1, {"jobs": (0.0, 1.0)}),
    Case("complete_region_request", "TransactWriteItems", count_bare, 2, {"jobs": (1.0, 2.0)}),
    Case("complete_region", "TransactWriteItems", complete, 2, {"regions": (0.0, 2.0), "jobs": (1.0, 2.0)}),
    Case("TileRecorder.flush", "UpdateItem", flush, 1, {"regions": (0.0, 1.0)}),
    Case("TileRecorder.complete", "TransactWriteItems", recorder_complete, 2,
         {"regions": (0.0, 2.0), "jobs": (1.0, 2.0)}),
]
def case_id(case: Case) -> str:
    return f"{case.operation}-bare" if case.prepare is count_bare else case.operation


#: Each fault injected below the package, and the cause it is counted under.
FAULTS = [("throttle", "throttled"), ("transaction-conflict", "conflict"), ("cancelled-conflict", "conflict"),
          ("no-answer", "answer_lost"), ("not-sent", "not_sent"), ("server-error", "server_error")]


def expected(case: Case, tables: Tables) -> Dict[str, Any]:
    names = {"jobs": tables[0].table_name, "regions": tables[1].table_name}
    units = {names[role]: each for role, each in case.units.items()}
    return {"sends": case.sends, "retries": dict.fromkeys(RETRY_CAUSES, 0), "units_by_table": units,
            "read_units": sum(read for read, _ in units.values()), "write_units": sum(w for _, w in units.values())}


def fields(event: OperationEvent) -> Dict[str, Any]:
    return {"sends": event.sends, "retries": dict(event.retries), "units_by_table": dict(event.units_by_table),
            "read_units": event.read_units, "write_units": event.write_units}


def only_event(events: List[OperationEvent]) -> OperationEvent:
    assert len(events) == 1, [event.operation for event in events]
    return events[0]


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_an_operation_emits_one_event_with_every_field(tables: Tables, case: Case) -> None:
    call = case.prepare(tables)
    table = tables[0] if case.operation == "complete_region_request" else tables[1]
    with listening() as events:
        before = time.time()
        call()
        after = time.time()
    event = only_event(events)
    assert (event.operation, event.table, event.error) == (case.operation, table.table_name, None)
    assert fields(event) == expected(case, tables)
    assert event.retried == 0
    assert set(event.key) == set(store_of(table).key_names) and all(event.key.values())
    assert before <= event.started_at <= after and 0 < event.duration_ms <= (after - before) * 1000 + 1


@pytest.mark.parametrize("case,kind,cause", [
    pytest.param(case, kind, cause, id=f"{case_id(case)}-{kind}") for case in CASES for kind, cause in FAULTS
    if kind != "cancelled-conflict" or case.api == "TransactWriteItems"])  # (a cancellation answers transactions)
def test_a_resend_is_counted_by_its_cause(tables: Tables, case: Case, kind: str, cause: str) -> None:
    call = case.prepare(tables)
    with faulted(tables, kind, case.api) as injector, listening() as events:
        call()
    assert sum(injector.injected.values()) == 1
    event = only_event(events)
    want = expected(case, tables)  # the faulted request never reached DynamoDB: the same units
    want["sends"] += 1
    want["retries"][cause] = 1
    assert (event.operation, event.error) == (case.operation, None)
    assert fields(event) == want and event.retried == 1


def test_a_lost_answer_whose_request_landed_is_counted_once(tables: Tables) -> None:
    _, [region] = new_image(tables)
    with faulted(tables, "lost-timeout", "TransactWriteItems"), listening() as events:
        job = complete_region(*tables, region, RequestStatus.SUCCESS)
    assert (job.region_success, job.region_error) == (1, 0)  # the resend, with the same token, applied nothing
    event = only_event(events)
    assert (event.operation, event.sends, event.retries["answer_lost"], event.retried) == ("complete_region", 3, 1, 1)
    # A 500 after the request landed is, for the caller, a server error like any other.
    _, [region] = new_image(tables)
    with faulted(tables, "lost-response", "TransactWriteItems"), listening() as events:
        complete_region(*tables, region, RequestStatus.SUCCESS)
    assert only_event(events).retries["server_error"] == 1


def test_a_failed_operation_carries_the_exception_it_raised(tables: Tables, dynamodb_local: Any) -> None:
    image_id, [region] = new_image(tables)
    with listening() as events, pytest.raises(ImageRequestExistsError) as exists:
        tables[0].start_image_request(JobItem(image_id, "another-job", region_count=1))
    event = only_event(events)
    assert event.error is exists.value and (event.operation, event.sends) == ("start_image_request", 1)
    assert event.key == {"image_id": image_id}
    assert (event.read_units, event.write_units) == (0.0, 0.0)  # DynamoDB reports nothing for a refusal

    once = JobTable(tables[0].table_name, host=dynamodb_local.endpoint, max_retry_attempts=0)
    with faulted((once, tables[1]), "server-error", "GetItem"), listening() as events, \
            pytest.raises(PynamoDBTablesError) as unanswered:
        once.get_image_request(image_id)
    event = only_event(events)
    assert event.error is unanswered.value and unanswered.value.code == "InternalServerError"
    assert (event.sends, event.retried) == (1, 0)

    with listening() as events, pytest.raises(InvalidRequestError) as invalid:
        complete_region(tables[0], tables[1], region, "DONE")  # type: ignore[arg-type]
    event = only_event(events)
    assert event.error is invalid.value and (event.operation, event.sends) == ("complete_region", 0)


def test_an_operation_inside_another_counts_in_it(tables: Tables) -> None:
    image_id, [region] = new_image(tables)
    recorder = TileRecorder(tables[1], image_id, region.region_id)  # no region: a flush reads it
    with listening() as events:
        recorder.flush()
    event = only_event(events)
    assert (event.operation, event.sends, event.read_units) == ("TileRecorder.flush", 1, 1.0)
    # The mark another operation (a buffered flush) puts on its calls: one event, named by it.
    with listening() as events, observed("flush", tables[1].table_name, {"image_id": image_id}):
        tables[1].add_tile(image_id, region.region_id, TILE, TileState.SUCCEEDED)
        tables[1].get_region_request(region.region_id, image_id)
    event = only_event(events)
    assert (event.operation, event.key, event.sends) == ("flush", {"image_id": image_id}, 2)
    assert (event.read_units, event.write_units) == (1.0, 1.0)


def test_a_buffered_flush_is_an_operation_of_its_own(tables: Tables) -> None:
    image_id, [region] = new_image(tables)
    buffering = RegionRequestTable(tables[1].table_name, host=tables[1].host, tile_flush_seconds=0.2)
    buffering.get_region_request(region.region_id, image_id)  # seen stored by a table that buffers: add_tile buffers
    seen: List[Tuple[str, OperationEvent]] = []
    flushed = threading.Event()

    def listener(event: OperationEvent) -> None:
        seen.append((threading.current_thread().name, event))
        if event.operation == "flush":
            flushed.set()

    unsubscribe = subscribe(listener)
    try:
        with faulted(tables, "throttle", "UpdateItem"):
            buffering.add_tile(image_id, region.region_id, TILE, TileState.SUCCEEDED)
            assert flushed.wait(30)  # the timer's flush, in the timer's thread
    finally:
        unsubscribe()
    (caller, added), (timer, flush) = seen
    assert (caller, added.operation, added.sends) == (threading.current_thread().name, "add_tile", 0)
    assert timer == "pynamodb-tables-tile-flusher"
    assert (flush.table, flush.key, flush.error) == (tables[1].table_name,
                                                     {"image_id": image_id, "region_id": region.region_id}, None)
    assert (flush.sends, flush.retries["throttled"], flush.retried, flush.write_units) == (2, 1, 1, 1.0)

    # Written before a call that reads the region: counted in that call. Written on flush(): its event.
    buffering.tile_flush_seconds = 3600.0
    with listening() as events:
        buffering.add_tile(image_id, region.region_id, [[512, 0], [512, 512]], TileState.SUCCEEDED)
        buffering.get_region_request(region.region_id, image_id)
        buffering.add_tile(image_id, region.region_id, [[1024, 0], [512, 512]], TileState.FAILED)
        buffering.flush()
    assert [(event.operation, event.sends, event.read_units, event.write_units) for event in events] == [
        ("add_tile", 0, 0.0, 0.0), ("get_region_request", 2, 1.0, 1.0), ("add_tile", 0, 0.0, 0.0),
        ("flush", 1, 0.0, 1.0)]
    assert tables[1].get_region_request(region.region_id, image_id).failed_tiles == [[[1024, 0], [512, 512]]]


def test_every_request_asks_for_its_capacity(tables: Tables) -> None:
    asked: List[Tuple[str, Any]] = []

    def before_call(model: Any, params: Dict[str, Any], **_: Any) -> None:
        asked.append((model.name, params.get("ReturnConsumedCapacity")))  # the request's parameters

    clients = clients_of(*tables)
    for client in clients:
        client.meta.events.register("before-parameter-build.dynamodb", before_call)
    try:
        for case in CASES:
            case.prepare(tables)()
        tables[1].list_regions("img-none")
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build.dynamodb", before_call)
    assert {name for name, _ in asked} == {"GetItem", "UpdateItem", "TransactWriteItems", "Query"}
    assert {capacity for _, capacity in asked} == {"TOTAL"}


def test_a_listener_that_raises_changes_nothing(tables: Tables, caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: OperationEvent) -> None:
        raise RuntimeError("listener bug")

    unsubscribe = subscribe(broken)
    try:
        with listening() as events, caplog.at_level(logging.ERROR, logger="pynamodb_tables"):
            image_id, [region] = new_image(tables)
            stored = tables[1].add_tile(image_id, region.region_id, TILE, TileState.SUCCEEDED)
            with pytest.raises(ImageRequestExistsError):
                tables[0].start_image_request(JobItem(image_id, "another-job", region_count=1))
    finally:
        unsubscribe()
    assert stored.succeeded_tiles == [TILE]
    assert [event.operation for event in events] == ["start_image_request", "start_region_request", "add_tile",
                                                     "start_image_request"]
    logged = [record for record in caplog.records if "listener" in record.getMessage()]
    assert len(logged) == 4 and all(record.exc_info and isinstance(record.exc_info[1], RuntimeError)
                                    for record in logged)


def test_unsubscribe_stops_events(tables: Tables) -> None:
    events: List[OperationEvent] = []
    unsubscribe = subscribe(events.append)
    image_id, _ = new_image(tables)
    unsubscribe()
    unsubscribe()  # twice: nothing more
    tables[0].get_image_request(image_id)
    assert [event.operation for event in events] == ["start_image_request", "start_region_request"]
    with pytest.raises(InvalidRequestError, match="a listener is a callable"):
        subscribe("not a listener")  # type: ignore[arg-type]


def test_no_listener_no_record() -> None:
    with observed("flush", "table"):
        assert tally() is None
    with listening(), observed("flush", "table"):
        assert tally() is not None


def test_eight_threads_get_their_own_events(tables: Tables) -> None:
    image_id, regions = new_image(tables, regions=8)
    seen: Dict[int, List[OperationEvent]] = {}
    lock = threading.Lock()

    def listener(event: OperationEvent) -> None:
        with lock:
            seen.setdefault(threading.get_ident(), []).append(event)

    together = threading.Barrier(len(regions))  # eight threads at once, each its own
    done: Dict[str, int] = {}  # region -> the thread that ran it

    def work(region: RegionRequestItem) -> None:
        together.wait()
        recorder = TileRecorder(tables[1], image_id, region.region_id, region=region, flush_every=2)
        for n in range(6):
            recorder.record([[512 * n, 0], [512, 512]], TileState.SUCCEEDED)
        recorder.complete(tables[0], RequestStatus.SUCCESS)
        done[region.region_id] = threading.get_ident()

    injector = FaultInjector("throttle", every=4).install(clients_of(*tables))
    unsubscribe = subscribe(listener)
    try:
        in_threads([functools.partial(work, region) for region in regions])
    finally:
        unsubscribe()
        injector.remove()
    assert len(done) == 8
    for region_id, ident in done.items():
        operations = [(event.operation, event.key["region_id"]) for event in seen[ident]]
        assert operations == [("TileRecorder.flush", region_id)] * 3 + [("TileRecorder.complete", region_id)]
    every = [event for events in seen.values() for event in events]
    assert sum(event.sends for event in every) == sum(injector.seen.values())  # every request, counted once
    assert sum(event.retries["throttled"] for event in every) == sum(injector.injected.values()) > 0
    assert tables[0].get_image_request(image_id).region_success == 8
