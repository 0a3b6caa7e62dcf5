"""The demo's workers: spawned processes making a worker's real calls for each region message."""

import itertools
import multiprocessing
import os
import queue
import signal
import time
from typing import Any, Dict, List, Tuple

from ..errors import ImageAlreadyEndedError
from ..items import RequestStatus, TileState
from ..job_table import JobItem, JobTable
from ..observing import EventSummary, subscribe
from ..region_request_table import RegionRequestItem, complete_region, tiles_to_process
from .demo_scenario import Delivery, DemoEvent, Scenario
from .errors import CommandError, describe_error
from .render import progress_bar
from .settings import Settings, TablePair, open_table_pair

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
