"""``demo``: a simulated image job run by worker processes on an embedded DynamoDB, then checked.

- The scenario: a simulated image of regions of tiles, with failures, a crash and a duplicate delivery.
- The workers: spawned processes making a worker's real calls for each region message.
- The checks: what the workers left in the tables and reported, against the scenario.
"""

import contextlib
import itertools
import json
import multiprocessing
import os
import queue
import signal
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

from ..errors import ImageAlreadyEndedError
from ..items import Box, RequestStatus, TileState
from ..job_table import JobItem, JobTable
from ..listeners import EventSummary, OperationFigures
from ..observing import subscribe
from ..region_request_table import RegionRequestItem, complete_region, tiles_to_process
from ..testing import capacity_note
from .arguments import Settings, TablePair, open_table_pair
from .definition import TableOptions
from .errors import CommandError, describe_error
from .jobs import DEFAULT_STALE_AFTER_S, snapshot, whole
from .provisioning import ensure_tables
from .views import operations_view, plain_text, progress_bar, results_view, status_view

TILE = 512


class Delivery(NamedTuple):
    """One region message, as a queue would deliver it."""

    region: int
    note: str  # "first delivery", "duplicate", "redelivery"
    crash_after: Optional[int] = None  # the worker crashes after this many tiles


class DemoEvent(NamedTuple):
    """What a worker did with one delivery."""

    delivery: Delivery
    kind: str  # "completed", "skipped" (already complete: nothing done), "crashed", "error"
    detail: str
    processed: int = 0  # tiles processed by this delivery
    counts: Optional[Tuple[int, int, int]] = None  # the job's region_success, region_error, region_count
    ended: str = ""  # "won" when this delivery ended the job, "already ended" when another had
    operations: Optional[Dict[str, OperationFigures]] = None  # the package's events of its calls, summed


@dataclass(frozen=True)
class Scenario:
    """A row of regions of tiles; one region partly fails, one fails, one crashes, one is delivered twice."""

    regions: int = 8
    tiles: int = 6
    partial_region: int = 2  # one tile fails: PARTIAL
    failed_region: int = 5  # every tile fails: FAILED
    crash_region: int = 3  # its worker crashes after ``crash_after`` tiles; the message is redelivered
    crash_after: int = 3
    duplicate_region: int = 6  # its message is delivered again once it has completed
    tile_seconds: float = 0.05  # simulated work per tile

    def region_id(self, n: int) -> str:
        return f"region-{n:02d}"

    def tiles_of(self, n: int) -> List[Box]:
        return [[[(n * self.tiles + t) * TILE, 0], [TILE, TILE]] for t in range(self.tiles)]

    def failing_tiles(self, n: int) -> List[Box]:
        tiles = self.tiles_of(n)
        if n == self.failed_region:
            return tiles
        return tiles[-2:-1] if n == self.partial_region else []

    def expected_status(self, n: int) -> RequestStatus:
        failing = len(self.failing_tiles(n))
        if not failing:
            return RequestStatus.SUCCESS
        return RequestStatus.FAILED if failing == self.tiles else RequestStatus.PARTIAL

    def region_item(self, image_id: str, n: int) -> RegionRequestItem:
        return RegionRequestItem(image_id=image_id, region_id=self.region_id(n), total_tiles=self.tiles,
                                 region_bounds=[[n * self.tiles * TILE, 0], [self.tiles * TILE, TILE]],
                                 tile_size=[TILE, TILE], tile_overlap=[0, 0])

    def deliveries(self) -> List[Delivery]:
        """The first messages: one per region, the crashing one with its crash."""
        return [Delivery(n, "first delivery", self.crash_after if n == self.crash_region else None)
                for n in range(self.regions)]

    def follow_ups(self, event: DemoEvent) -> List[Delivery]:
        """What the queue delivers after ``event``: a crashed message again; the duplicate once completed."""
        n = event.delivery.region
        if event.kind == "crashed":
            return [Delivery(n, "redelivery")]
        if n == self.duplicate_region and event.kind == "completed" and event.delivery.note == "first delivery":
            return [Delivery(n, "duplicate")]
        return []


Check = Tuple[bool, str]  # passed, what was checked


def _except(region_ids: List[str]) -> str:
    return f", except {', '.join(region_ids)}" if region_ids else ""


@dataclass
class DemoResult:
    """The job, the regions and the workers' events of one demo run."""

    scenario: Scenario
    job: JobItem
    regions: Dict[str, RegionRequestItem]
    events: List[DemoEvent]

    def checks(self) -> List[Check]:
        return [self.no_errors(), self.counters(), self.ended_once(), self.outcomes(), self.tiles(),
                self.redrive(), self.duplicate()]

    def region(self, n: int) -> Optional[RegionRequestItem]:
        return self.regions.get(self.scenario.region_id(n))

    def no_errors(self) -> Check:
        errors = [e.detail for e in self.events if e.kind == "error"]
        return not errors, "no worker errors" + (f": {errors[0]}" if errors else "")

    def counters(self) -> Check:
        total = self.scenario.regions
        success = sum(1 for n in range(total) if self.scenario.expected_status(n) is RequestStatus.SUCCESS)
        job = self.job
        exact = (job.region_success, job.region_error, job.region_count) == (success, total - success, total)
        return exact, (f"job counters exact: region_success {whole(job.region_success)} (expected {success}), "
                       f"region_error {whole(job.region_error)} (expected {total - success}) "
                       f"of {whole(job.region_count)}")

    def ended_once(self) -> Check:
        wins = sum(1 for e in self.events if e.ended == "won")
        return wins == 1 and self.job.end_time is not None, f"job ended exactly once ({wins} end_image_request won)"

    def outcomes(self) -> Check:
        wrong = [self.scenario.region_id(n) for n in range(self.scenario.regions)
                 if getattr(self.region(n), "region_status", None) != self.scenario.expected_status(n).value]
        return (len(self.regions) == self.scenario.regions and not wrong,
                f"{len(self.regions)} regions, each with its expected outcome{_except(wrong)}")

    def tiles(self) -> Check:
        wrong = [self.scenario.region_id(n) for n in range(self.scenario.regions) if not self.tiles_exact(n)]
        return not wrong, f"tile counts exact, no tile recorded twice{_except(wrong)}"

    def tiles_exact(self, n: int) -> bool:
        region = self.region(n)
        if region is None:
            return False
        failed, succeeded = region.failed_tiles or [], region.succeeded_tiles or []
        expected_failed = len(self.scenario.failing_tiles(n))
        return (region.failed_tile_count == len(failed) == expected_failed
                and region.succeeded_tile_count == len(succeeded) == self.scenario.tiles - expected_failed
                and all(len({json.dumps(t) for t in tiles}) == len(tiles) for tiles in (failed, succeeded)))

    def redrive(self) -> Check:
        retries = whole(getattr(self.region(self.scenario.crash_region), "region_retry_count", None))
        redone = [e.processed for e in self.events if e.delivery.note == "redelivery" and e.kind == "completed"]
        missing = self.scenario.tiles - self.scenario.crash_after
        return (retries == 1 and redone == [missing],
                f"crashed region redriven: retry count {retries}, redelivery processed "
                f"{', '.join(map(str, redone)) or 'no'} tile(s): the {missing} missing of {self.scenario.tiles}")

    def duplicate(self) -> Check:
        n = self.scenario.duplicate_region
        kinds = sorted(e.kind for e in self.events if e.delivery.region == n)
        return (kinds == ["completed", "skipped"],
                f"{self.scenario.region_id(n)} delivered twice ({len(kinds)} handled): completed once, "
                f"the duplicate found it already complete and changed nothing")


DEMO_TIMEOUT_S = 120.0
CRASH_EXIT_CODE = 3


def outcome_of(region: RegionRequestItem) -> RequestStatus:
    """SUCCESS without failed tiles, FAILED without succeeded ones, else PARTIAL."""
    if not region.failed_tile_count:
        return RequestStatus.SUCCESS
    return RequestStatus.PARTIAL if region.succeeded_tile_count else RequestStatus.FAILED


def counts_of(job: JobItem) -> Tuple[int, int, int]:
    return int(job.region_success or 0), int(job.region_error or 0), int(job.region_count or 0)


def end_if_complete(job_table: JobTable, job: JobItem) -> str:
    if not JobTable.is_image_request_complete(job):
        return ""
    try:
        job_table.end_image_request(job.image_id)
        return "won"
    except ImageAlreadyEndedError:
        return "already ended"


def deliver(tables: TablePair, image_id: str, scenario: Scenario, delivery: Delivery) -> DemoEvent:
    """A worker's real calls for one region message (a crash returns early, completing nothing)."""
    n = delivery.region
    region_id = scenario.region_id(n)
    region = tables.region.start_region_request(scenario.region_item(image_id, n))
    if region.region_status == RequestStatus.SUCCESS.value:  # a finished region delivered again: it replays
        job = complete_region(tables.job, tables.region, region, RequestStatus.SUCCESS)  # (changes nothing)
        return DemoEvent(delivery, "skipped", "already complete, counted once: nothing done", 0, counts_of(job))
    todo = tiles_to_process(region, scenario.tiles_of(n))  # a redelivery redoes only the missing tiles
    for done, tile in enumerate(todo, start=1):
        time.sleep(scenario.tile_seconds)
        state = TileState.FAILED if tile in scenario.failing_tiles(n) else TileState.SUCCEEDED
        region = tables.region.add_tile(image_id, region_id, tile, state)
        if done == delivery.crash_after:
            return DemoEvent(delivery, "crashed", f"after {done} of {len(todo)} tiles, not completed", done)
    outcome = outcome_of(region)
    job = complete_region(tables.job, tables.region, region, outcome)
    return DemoEvent(delivery, "completed", outcome.value, len(todo), counts_of(job), end_if_complete(tables.job, job))


def demo_worker(number: int, settings: Settings, image_id: str, scenario: Scenario, inbox: Any, outbox: Any) -> None:
    """A worker process: handle region messages until a ``None``; a planned crash ends the process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers
    tables = open_table_pair(settings)
    summary = EventSummary()
    subscribe(summary)
    for delivery in iter(inbox.get, None):
        try:
            event = deliver(tables, image_id, scenario, delivery)
        except Exception as exc:  # reported by the parent, which fails the demo
            event = DemoEvent(delivery, "error", describe_error(exc))
        outbox.put((number, event._replace(operations=summary.take())))
        if event.kind == "crashed":
            outbox.close()
            outbox.join_thread()  # the event reaches the parent before the process dies
            os._exit(CRASH_EXIT_CODE)


class WorkerPool:
    """Spawned worker processes sharing one message queue, as consumers of a real queue would."""

    def __init__(self, settings: Settings, image_id: str, scenario: Scenario) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.inbox: Any = self.context.Queue()
        self.outbox: Any = self.context.Queue()
        self.args = (settings, image_id, scenario, self.inbox, self.outbox)
        self.numbers = itertools.count(1)
        self.processes: Dict[int, Any] = {}

    def spawn(self) -> int:
        number = next(self.numbers)
        process = self.context.Process(target=demo_worker, args=(number, *self.args), daemon=True,
                                       name=f"demo-worker-{number}")
        process.start()
        self.processes[number] = process
        return number

    def crashed(self, number: int) -> int:
        """Worker ``number`` reported its crash: reap it and start a replacement; the replacement's number."""
        self.processes.pop(number).join(30)
        return self.spawn()

    def next_event(self, deadline: float) -> Tuple[int, DemoEvent]:
        while True:
            try:
                number, event = self.outbox.get(timeout=0.2)
                return number, event
            except queue.Empty:
                pass
            dead = [f"worker {n} (exit code {p.exitcode})" for n, p in self.processes.items()
                    if p.exitcode not in (None, CRASH_EXIT_CODE)]
            if dead:
                raise CommandError(f"demo {', '.join(dead)} stopped unexpectedly")
            if time.monotonic() > deadline:
                raise CommandError(f"demo did not finish within {DEMO_TIMEOUT_S:g}s")

    def stop(self, wait: bool) -> None:
        """Stop every worker: after its current message if ``wait``, else at once."""
        for _ in self.processes:
            self.inbox.put(None)
        for process in self.processes.values():
            process.join(30 if wait else 0)
            if process.is_alive():
                process.terminate()


def run_workers(settings: Settings, image_id: str, scenario: Scenario, workers: int) -> List[DemoEvent]:
    """Deliver every message to ``workers`` processes, and what each event calls for; print progress."""
    pool = WorkerPool(settings, image_id, scenario)
    messages = scenario.deliveries()
    for delivery in messages:
        pool.inbox.put(delivery)
    events: List[DemoEvent] = []
    counts = (0, 0, scenario.regions)
    deadline = time.monotonic() + DEMO_TIMEOUT_S
    try:
        for _ in range(workers):
            pool.spawn()
        while len(events) < len(messages):
            number, event = pool.next_event(deadline)
            events.append(event)
            counts = event.counts or counts
            print(progress_line(number, event, counts, scenario), flush=True)
            for delivery in scenario.follow_ups(event):
                messages.append(delivery)
                pool.inbox.put(delivery)
            if event.kind == "crashed":
                print(f"worker {number} crashed (as planned): worker {pool.crashed(number)} takes its place, as a "
                      "queue's consumers are replaced", flush=True)
    finally:
        pool.stop(wait=len(events) == len(messages))
    return events


def progress_line(number: int, event: DemoEvent, counts: Tuple[int, int, int], scenario: Scenario) -> str:
    success, error, total = counts
    detail = event.detail
    if event.kind == "completed":
        detail += f", {event.processed} tile(s) processed"
    if event.ended:
        detail += "; ended the job" if event.ended == "won" else "; job already ended"
    detail += "".join(f"; {d.note} queued" for d in scenario.follow_ups(event))
    return (f"{progress_bar(success, error, total, width=16)} {success + error}/{total}  worker {number}  "
            f"{scenario.region_id(event.delivery.region)}  {event.delivery.note:<14}  {event.kind:<9}  {detail}")


DEMO_TABLES = ("demo-jobs", "demo-regions")


@contextlib.contextmanager
def demo_endpoint(settings: Settings) -> Iterator[Settings]:
    """``settings`` as they are when an endpoint is configured, else pointing at an embedded moto server."""
    if settings.endpoint_url:
        yield settings
        return
    from ..testing import MotoServer

    try:
        server = MotoServer()
    except RuntimeError as exc:
        raise CommandError(f"demo without --endpoint-url: {exc}") from None
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")  # the embedded server's; inherited
    os.environ.pop("AWS_SESSION_TOKEN", None)  # by the workers, and never real credentials
    with server:
        print(f"embedded DynamoDB (moto server) at {server.endpoint}")
        yield replace(settings, endpoint_url=server.endpoint, region=settings.region or "us-east-1")


def run_demo(settings: Settings, workers: int, image_id: Optional[str]) -> None:
    """Run the scenario and print what happened; a :class:`CommandError` if any check fails."""
    settings = replace(settings, job_table=settings.job_table or DEMO_TABLES[0],
                       region_table=settings.region_table or DEMO_TABLES[1])
    scenario = Scenario()
    with demo_endpoint(settings) as settings:
        tables = open_table_pair(settings)
        for result in ensure_tables(tables, TableOptions()):
            print(plain_text(results_view([result], tables.name_width())), flush=True)
        image_id = image_id or f"demo-{uuid.uuid4().hex[:8]}"
        summary = EventSummary()  # the job's calls, from the package's events: this process's, then the workers'
        unsubscribe = subscribe(summary)
        try:
            tables.job.start_image_request(JobItem(
                image_id=image_id, job_id=f"job-{image_id}", image_url="s3://demo-bucket/image.tif",
                region_count=scenario.regions, width=scenario.regions * scenario.tiles * TILE, height=TILE))
        finally:
            unsubscribe()
        print(f"image {image_id}: {scenario.regions} regions of {scenario.tiles} tiles, {workers} worker "
              f"processes; {scenario.region_id(scenario.partial_region)} has a failing tile, "
              f"{scenario.region_id(scenario.failed_region)} fails, {scenario.region_id(scenario.crash_region)}'s "
              f"worker crashes (a new worker takes its place), {scenario.region_id(scenario.duplicate_region)} is "
              "delivered twice\n", flush=True)
        events = run_workers(settings, image_id, scenario, workers)
        print("\n" + plain_text(status_view(snapshot(tables, image_id, DEFAULT_STALE_AFTER_S))))
        regions = {r.region_id: r for r in tables.region.list_regions(image_id)}
        checks = DemoResult(scenario, tables.job.get_image_request(image_id), regions, events).checks()
        units_note = capacity_note(settings.endpoint_url)
    for event in events:
        summary.merge(event.operations or {})
    print("\nchecks\n" + "\n".join(f"  {'ok  ' if ok else 'FAIL'}  {text}" for ok, text in checks))
    print("\n" + plain_text(operations_view(summary.figures(), units_note)))
    failed = [text for ok, text in checks if not ok]
    if failed:
        raise CommandError(f"demo counts are not exact: {'; '.join(failed)}")
