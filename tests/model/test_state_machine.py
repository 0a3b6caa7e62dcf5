"""A model of the whole state machine, checked by Hypothesis against DynamoDB Local under faults.

Hypothesis writes programs of worker steps: start the image, start (or restart, or redeliver)
a region, add a tile, record and flush tiles, complete a region (``complete_region`` or
``TileRecorder.complete``, or the model runner's two calls in either order, the worker dying after
any of them), end the image, crash (a worker forgets what it held). Three workers, each on its own
clients and in a thread of its own, take the steps; a step may carry a fault on the worker's next request:
an answer lost after the write landed (a 500, or a read timeout), a request lost before it
landed, throttling, a transaction conflict, a server error. A lost answer may also let another
worker take a step in the window between the write landing and the resend.

After every step the tables must equal a plain-Python model of what must hold (counts by each
region's latest outcome, tiles never lost or doubled, retries counted once, one end). A step
that interleaves with another worker's may take effect before or after it: the tables must
equal the model after one of the two orders (or, for an append of tiles, after the append, the
other step and the append again: tiles are recorded by content, so a resend may record again a
tile the other step cleared; it never loses one). A failure shrinks to the few steps that cause it.

How many programs run: a small profile in the default tier, more in the full tier (CI), and
``STATE_MACHINE_EXAMPLES`` programs in ``./dev soak`` (2,000).
"""

import copy
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from pynamodb_tables import (
    CompleteRegionException,
    EndImageException,
    GetImageRequestItemException,
    ImageAlreadyEndedError,
    ImageRequestExistsError,
    JobItem,
    JobTable,
    RegionAlreadyCompleteError,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    StartRegionException,
    TileRecorder,
    TileState,
    UpdateRegionException,
    complete_region,
    tile_buffer,
)
from pynamodb_tables.observing import failing_as
from pynamodb_tables.repair import fail_stale, reconcile
from pynamodb_tables.room import ITEM_BUDGET, reserved_size
from pynamodb_tables.store import store_of
from tests.support.faults import ArmedFault, clients_of
from tests.support.model_runner_items import OldWorker
from tests.support.seed_forms import Int64

pytestmark = pytest.mark.dynamodb_local

REGIONS = ("r0", "r1", "r2")
TILES = [[[x, y], [16, 16]] for x in (0, 16) for y in (0, 16)]
WORKERS = 3
FAULT_KINDS = ("lost-response", "lost-timeout", "no-answer", "throttle", "server-error", "transaction-conflict")
OUTCOMES = (RequestStatus.SUCCESS, RequestStatus.PARTIAL, RequestStatus.FAILED)
ENDED = tuple(outcome.value for outcome in OUTCOMES)  # a region's statuses once it has an outcome
#: Another worker's repair between the model runner's two calls (issue 23, finding 9): (which other worker, by
#: its distance from the one making the calls; the repair).
Gap = Tuple[int, str]


def category_of(outcome: str) -> str:
    """The job count an outcome is in: "success" for SUCCESS, else "error"."""
    return "success" if outcome == "SUCCESS" else "error"


# -- the model ----------------------------------------------------------------------------------

@dataclass
class RegionModel:
    status: str = "STARTED"
    retries: int = 0
    succeeded: Set[Tuple[int, ...]] = field(default_factory=set)
    failed: Set[Tuple[int, ...]] = field(default_factory=set)
    counted: Optional[str] = None  # the category the job counts this region in: "success" or "error"
    counts: Optional[List[int]] = None  # tile counts drifted from the lists by another writer (None: equal)
    pending: Set[Tuple[Tuple[int, ...], str]] = field(default_factory=set)  # (tile, state) buffered in the process
    ended: bool = False  # it had an outcome once (its end_time is kept when it restarts)


@dataclass
class Model:
    """What the tables must hold after a sequence of steps applied one at a time."""

    started: bool = False
    ended: bool = False
    success: int = 0
    error: int = 0
    regions: Dict[str, RegionModel] = field(default_factory=dict)
    here: bool = True  # the step is this process's (it writes a region's buffered tiles first)
    bare: int = 0  # regions counted by a bare counter (a job call tied to no region) since the last reconcile

    def apply(self, step: Tuple[Any, ...]) -> Optional[type]:
        """Apply ``step``; returns the exception class the call must raise (``None``: none). ``("elsewhere",
        step)``: ``step`` taken by another process, which knows nothing of this one's buffered tiles."""
        name, *args = step
        if name == "elsewhere":
            self.here = False
            try:
                return self.apply(args[0])
            finally:
                self.here = True
        return getattr(self, name)(*args)  # type: ignore[no-any-return]

    def look(self, region_id: str) -> Optional[type]:
        """``get_region_request``: the region's buffered tiles written, nothing else changes."""
        self.flushed(region_id)
        return None

    def start_image(self) -> Optional[type]:
        """Every worker's job is the same: a start of the running image is a new attempt (nothing changes);
        of the ended one, refused."""
        if self.started:
            return ImageRequestExistsError if self.ended else None
        self.started = True
        return None

    def end_image(self) -> Optional[type]:
        if not self.started:
            return EndImageException
        if self.ended:
            return ImageAlreadyEndedError
        self.ended = True
        return None

    def flushed(self, region_id: Optional[str] = None) -> None:
        """The buffered tiles of the region (or of every region) written: a call that reads or writes it."""
        if not self.here:
            return
        for name, region in self.regions.items():
            if region_id in (None, name):
                for tile, state in sorted(region.pending):
                    record(region, tile, state)
                region.pending = set()

    def record_again(self, before: "Model") -> None:
        """The tiles buffered ``before`` and flushed since recorded again (a flush resent after its lost
        answer, once another step cleared them), in the regions that still exist."""
        for name, region in before.regions.items():
            if name in self.regions:
                for tile, state in sorted(region.pending - self.regions[name].pending):
                    record(self.regions[name], tile, state)

    def start_region(self, region_id: str) -> Optional[type]:
        self.flushed(region_id)
        region = self.regions.get(region_id)
        if region is None:
            self.regions[region_id] = RegionModel()
            return None
        if region.status == "SUCCESS":
            return None  # a finished region delivered again: returned as it is
        if region.status in ("PARTIAL", "FAILED") or region.succeeded or region.failed:
            region.retries += 1
            region.failed = set()
            if region.counts is not None:
                region.counts[1] = 0
        region.status = "STARTED"
        return None

    def add_tiles(self, region_id: str, tiles: Tuple[Tuple[int, str], ...]) -> Optional[type]:
        self.flushed(region_id)
        region = self.regions.get(region_id)
        if region is None:
            return UpdateRegionException
        for index, state in tiles:
            record(region, key(TILES[index]), state)
        return None

    def complete(self, region_id: str, outcome: str, tiles: Tuple[Tuple[int, str], ...] = ()) -> Optional[type]:
        self.flushed(region_id)
        region = self.regions.get(region_id)
        if region is None:
            return CompleteRegionException
        if region.status in ENDED:
            self.add_tiles(region_id, tiles)  # late tiles are still recorded; nothing is counted
            return None if self.started else CompleteRegionException
        if not self.started:
            return CompleteRegionException  # the transaction needs the job: nothing changes
        self.add_tiles(region_id, tiles)
        self.count(region, category_of(outcome))
        region.status, region.ended = outcome, True
        return None

    def count(self, region: RegionModel, category: str) -> None:
        """The region counted in ``category`` by its job: once, moved from an earlier outcome's count."""
        if region.counted != category:
            self.success += (category == "success") - (region.counted == "success")
            self.error += (category == "error") - (region.counted == "error")
        region.counted = category

    # -- the model runner's two calls (completion.py) ---------------------------------------------

    def two_calls(self, region_id: str, outcome: str, order: str, stop_after: Optional[int], fault: Optional[str],
                  fault_at: int, gap: Optional[Gap], tied: bool, gap_raised: Optional[type]) -> Optional[type]:
        """The runner's handler: start the region, then ``JobTable.complete_region_request`` and
        ``RegionRequestTable.complete_region_request`` (success order), or the other way round (failure
        order); the worker dies after call ``stop_after`` (0: the start). ``gap``: another worker's repair
        between the two calls (it raised ``gap_raised``). ``tied``: the job's call counts the region (the
        job was started before it, as the worker saw); otherwise it is a bare counter."""
        self.start_region(region_id)
        region = self.regions[region_id]
        final = region.status == "SUCCESS"  # (a replay: its count stays a success; a bare count is the call's)
        if stop_after == 0:
            return None
        calls = ("job", "region") if order == "success" else ("region", "job")
        for number, call in enumerate(calls, start=1):
            if call == "job":
                raised = self.job_call(region, category_of("SUCCESS" if final and tied else outcome), tied)
            else:
                raised = self.region_call(region_id, outcome)
            if raised is not None or stop_after == number:
                return raised
            if number == 1 and gap is not None and not error_class(gap_raised, self.apply((gap[1],))):
                return Unexplained
        return None

    def job_call(self, region: RegionModel, category: str, tied: bool) -> Optional[type]:
        if not self.started:
            return CompleteRegionException
        if not tied:
            self.success += category == "success"
            self.error += category == "error"
            self.bare += 1
            return None
        self.count(region, category)
        return None

    def region_call(self, region_id: str, outcome: str) -> Optional[type]:
        self.flushed(region_id)
        region = self.regions[region_id]
        if region.status in ENDED:
            return None if region.status == outcome else RegionAlreadyCompleteError
        region.status, region.ended = outcome, True
        return None


    # -- the repairs (pynamodb_tables.repair) and the drift they repair ----------------------------

    def old_counts(self, region_id: str) -> Optional[type]:
        """The model runner's own update_region_request writes the counts it computed (here 0 and 0)."""
        region = self.regions.get(region_id)
        if region is not None:
            region.counts = [0, 0]
        return None

    def reconcile(self) -> Optional[type]:
        """Tile counts recounted from the lists; the job's counters recounted, each region by its outcome (a
        running one as its job records it: a region restarted after an error still in region_error): what
        a crash between the two calls or a bare counter left is repaired."""
        if not self.started:  # the job is read first: no region is listed, no buffer flushed
            return GetImageRequestItemException
        self.flushed()  # (it lists the image's regions)
        self.success = self.error = self.bare = 0
        for region in self.regions.values():
            region.counts = None
            if region.status in ENDED:
                region.counted = category_of(region.status)
            elif region.counted is None and region.ended:  # restarted after an outcome the job never counted
                region.counted = "error"
            self.success += region.counted == "success"
            self.error += region.counted == "error"
        return None

    def fail_stale(self) -> Optional[type]:
        """Every running region is stale after 0 seconds: each completed FAILED, as complete_region does."""
        if not self.started:  # as reconcile: the job first
            return GetImageRequestItemException
        self.flushed()
        for region_id, region in self.regions.items():
            if region.status == "STARTED":
                self.complete(region_id, "FAILED")
        return None


    # -- hostile steps: stale items written back, items near the size budget, numbers in every
    #    accepted form, items another writer left (issue 14) ----------------------------------------

    def write_back(self, region_id: str) -> Optional[type]:
        """A worker writes back the item it holds, however old: nothing the model tracks changes."""
        self.flushed(region_id)
        return UpdateRegionException if region_id not in self.regions else None

    def fill(self, region_id: str) -> Optional[type]:
        """A message that takes the region to within 2 KB of its budget: every later step still works."""
        self.flushed(region_id)
        return UpdateRegionException if region_id not in self.regions else None

    def forms(self, region_id: str, form: str) -> Optional[type]:
        """The worker's held item gets its numbers in another accepted form: nothing is written."""
        return None

    def old_start(self, region_id: str) -> Optional[type]:
        """The model runner's own start of a new region: no tile lists, counts 0."""
        if region_id not in self.regions:
            self.regions[region_id] = RegionModel()
        return None


    # -- buffered tile writes (issue 15): one buffer per table in the process, shared by the workers --------

    def buffered_add(self, region_id: str, index: int, state: str) -> Optional[type]:
        """``add_tile`` on a buffered table, for a region the process has seen stored: the tile waits in the
        buffer, also one the region shows already (its copy may be stale: issue 23, finding 3); the flush
        skips what the table holds, or records it again in an attempt begun since. (For a region it has
        not seen, it is written at once: the worker reports it as ``add_tiles``.)"""
        region = self.regions.get(region_id)
        if region is None:
            return UpdateRegionException
        region.pending.add((key(TILES[index]), state))
        return None

    def flush(self) -> Optional[type]:
        """``RegionRequestTable.flush()``: every buffered tile written."""
        self.flushed()
        return None


def record(region: RegionModel, tile: Tuple[int, ...], state: str) -> None:
    """``tile`` recorded in its state's list (a drifted count moves with its list)."""
    listed = region.succeeded if state == "succeeded" else region.failed
    if region.counts is not None and tile not in listed:
        region.counts[0 if state == "succeeded" else 1] += 1
    listed.add(tile)


def key(tile: List[List[int]]) -> Tuple[int, ...]:
    return tuple(value for pair in tile for value in pair)


# -- the workers ----------------------------------------------------------------------------------

#: How each worker names the endpoint and region of the same tables (``AWS_ENDPOINT_URL_DYNAMODB`` is the
#: endpoint): one table, however spelled, has one tile buffer in the process.
SPELLINGS = ({"host": "endpoint"}, {}, {"host": "endpoint", "region": "us-east-1"})


class Worker:
    """One worker of this process: its own clients (other settings), its own spelling of the endpoint and
    region, what it holds, a fault to arm, and a table of another process (``elsewhere``: a buffer of its
    own, so its calls never write this process's buffered tiles)."""

    def __init__(self, host: str, job_name: str, region_name: str, number: int) -> None:
        settings_: Dict[str, Any] = {"read_timeout_seconds": 20 + number}
        settings_.update({name: host if value == "endpoint" else value for name, value in SPELLINGS[number].items()})
        self.jobs = JobTable(job_name, **settings_)
        self.regions = RegionRequestTable(region_name, **settings_)
        self.buffered = RegionRequestTable(region_name, tile_flush_seconds=3600, **settings_)
        self.elsewhere = RegionRequestTable(region_name, **settings_)
        self.elsewhere._buffer = tile_buffer.TileBuffer()  # (another process's)
        self.fault = ArmedFault(clients_of(self.jobs, self.regions))
        self.old = OldWorker(host, job_name, region_name)  # the model runner's own code, for drift
        self.held: Dict[str, RegionRequestItem] = {}
        self.wrote_at_once = False  # the last buffered add_tile was for a region the process had not seen stored
        self.thread = ThreadPoolExecutor(max_workers=1)  # its own (a tie lives in the thread that started a region)
        self.tied = False  # the last two calls' start tied the job's call to its region (as the worker saw the job)
        self.between: Optional[Callable[[], Optional[type]]] = None  # another worker's step between the two calls
        self.between_raised: Optional[type] = None  # (what it raised)

    def dies(self) -> None:
        """The worker is gone and comes back: it holds nothing, and its thread is a new one (no tie)."""
        self.held.clear()
        self.thread.shutdown(wait=True)
        self.thread = ThreadPoolExecutor(max_workers=1)

    def two_calls(self, image_id: str, region_id: str, outcome: str, order: str, stop_after: Optional[int],
                  fault: Optional[str], fault_at: int, gap: Optional[Gap]) -> Tuple[Optional[type], bool]:
        """The model runner's handler on one region (``Model.two_calls``), ``fault`` on call ``fault_at``'s first
        request, ``between`` (another worker's repair) run after the first of the two calls if ``gap``; run in
        the worker's own thread. Returns what it raised, and whether the worker died."""
        calls = ("start", "job", "region") if order == "success" else ("start", "region", "job")
        item = self.held.get(region_id) or RegionRequestItem(region_id, image_id, "job")
        self.tied, self.between_raised = False, None
        for number, call in enumerate(calls):
            if fault is not None and fault_at == number:
                self.fault.arm(fault)
            try:
                if call == "start":
                    item = self.held[region_id] = self.regions.start_region_request(item)
                    jobs = store_of(self.jobs)
                    job = jobs.read(jobs.key(image_id))
                    self.tied = job is not None and int(job.start_time) <= int(item.start_time)
                elif call == "job":
                    self.jobs.complete_region_request(image_id, outcome != "SUCCESS")
                else:
                    self.held[region_id] = self.regions.complete_region_request(item, RequestStatus(outcome))
            except (StartRegionException, CompleteRegionException) as exc:
                return type(exc), False
            finally:
                self.fault.disarm()
            if stop_after == number:
                return None, True
            if number == 1 and gap is not None and self.between is not None:
                self.between_raised = self.between()
        return None, False

    def run(self, image_id: str, step: Tuple[Any, ...]) -> Optional[type]:
        """Take ``step``; returns the class of the package error it raised (``None``: none)."""
        name, *args = step
        if name == "elsewhere":  # another process: its own buffer, holding nothing of this one's
            here, self.regions, self.held = (self.regions, self.held), self.elsewhere, {}
            try:
                return self.run(image_id, args[0])
            finally:
                self.regions, self.held = here
        if name == "look":
            self.held[args[0]] = self.buffered.get_region_request(args[0], image_id)  # (its copy: fresh)
            return None
        if name == "two_calls":
            raised, died = self.thread.submit(self.two_calls, image_id, *args).result()
            if died:
                self.dies()
            return raised
        if name in REPAIR_STEPS:
            return self.repair(image_id, step)
        if name in HOSTILE_STEPS:
            return self.hostile(image_id, step)
        if name in BUFFERED_STEPS:
            try:
                if name == "buffered_add":
                    region_id, index, state = args
                    self.wrote_at_once = not self.buffered._buffer.has_seen((image_id, region_id))
                    self.buffered.add_tile(image_id, region_id, TILES[index], TileState(state))
                else:
                    self.buffered.flush()
                return None
            except UpdateRegionException as exc:
                return type(exc)
        try:
            if name == "start_image":
                self.jobs.start_image_request(JobItem(image_id, "job", region_count=len(REGIONS)))
            elif name == "end_image":
                self.jobs.end_image_request(image_id)
            elif name == "start_region":
                held = self.held.get(args[0])
                item = held if held is not None else RegionRequestItem(args[0], image_id, "job")
                self.held[args[0]] = self.regions.start_region_request(item)
            elif name == "add_tiles":
                region_id, tiles = args
                if len(tiles) == 1:
                    (index, state), = tiles
                    self.held[region_id] = self.regions.add_tile(image_id, region_id, TILES[index], TileState(state))
                else:
                    recorder = TileRecorder(self.regions, image_id, region_id, region=self.held.get(region_id))
                    for index, state in tiles:
                        recorder.record(TILES[index], TileState(state))
                    self.held[region_id] = recorder.flush()
            elif name == "complete":
                region_id, outcome, tiles = args
                held = self.held.get(region_id)
                if tiles:
                    recorder = TileRecorder(self.regions, image_id, region_id, region=held)
                    for index, state in tiles:
                        recorder.record(TILES[index], TileState(state))
                    recorder.complete(self.jobs, RequestStatus(outcome))
                else:
                    item = held if held is not None else RegionRequestItem(region_id, image_id)
                    complete_region(self.jobs, self.regions, item, RequestStatus(outcome))
            return None
        except (ImageRequestExistsError, EndImageException, RegionAlreadyCompleteError, UpdateRegionException,
                CompleteRegionException) as exc:
            if name == "add_tiles":
                self.held.pop(args[0], None)  # a recorder whose region is unknown holds nothing
            return type(exc)


    def repair(self, image_id: str, step: Tuple[Any, ...]) -> Optional[type]:
        """A repair taken by this worker, on its own clients (with its fault armed), or the drift it repairs."""
        name, *args = step
        try:
            if name == "old_counts":
                self.old.update_counts(image_id, args[0], 0, 0, only_existing=True)
            elif name == "reconcile":
                reconcile(self.jobs, self.regions, [image_id])
            elif name == "fail_stale":
                fail_stale(self.jobs, self.regions, [image_id], 0, apply=True)
            return None
        except GetImageRequestItemException as exc:
            return type(exc)
        except self.old.client.exceptions.ConditionalCheckFailedException:
            return None  # no such region: the old writer's update changed nothing


    def hostile(self, image_id: str, step: Tuple[Any, ...]) -> Optional[type]:
        """A step in a situation the plain workers never make (see the model's hostile steps)."""
        name, region_id, *args = step
        held = self.held.get(region_id)
        try:
            if name == "write_back":  # the held item (stale or not) written back, status left out
                item = copy.deepcopy(held) if held is not None else RegionRequestItem(region_id, image_id)
                item.region_status, item.message = None, f"written back by {id(self)}"
                self.regions.update_region_request(item)
            elif name == "fill":
                stored = self.regions.get_region_request(region_id, image_id)
                room = ITEM_BUDGET - reserved_size(stored) if stored is not None else 0
                length = max(0, len((stored.message or "") if stored is not None else "") + room - 2048)
                self.regions.update_region_request(RegionRequestItem(region_id, image_id, message="m" * length))
            elif name == "forms" and held is not None:
                form = Decimal if args[0] == "Decimal" else Int64
                for attribute in NUMBERS:
                    if getattr(held, attribute) is not None:
                        setattr(held, attribute, form(int(getattr(held, attribute))))
            elif name == "old_start":
                self.old.start_region(image_id, region_id, only_new=True)
            return None
        except UpdateRegionException as exc:
            return type(exc)
        except self.old.client.exceptions.ConditionalCheckFailedException:
            return None  # the region exists: the old writer's start changed nothing


REPAIR_STEPS = ("old_counts", "reconcile", "fail_stale")
HOSTILE_STEPS = ("write_back", "fill", "forms", "old_start")
BUFFERED_STEPS = ("buffered_add", "flush")
NUMBERS = ("start_time", "last_updated_time", "end_time", "processing_duration", "region_retry_count",
           "succeeded_tile_count", "failed_tile_count")


class Unexplained(Exception):
    """What the model expects of a call when a step inside it (a repair between the two calls) raised what
    the model did not expect: nothing a worker raises is one, so no order explains the tables."""


def error_class(raised: Optional[type], expected: Optional[type]) -> bool:
    """``raised`` is what the model expects (a subclass of it, e.g. RegionAlreadyCompleteError)."""
    if expected is None or raised is None:
        return raised is expected
    return issubclass(raised, expected)


tiles_strategy = st.lists(st.tuples(st.integers(0, len(TILES) - 1), st.sampled_from(["succeeded", "failed"])),
                          min_size=1, max_size=3).map(tuple)
steps = st.one_of(
    st.just(("start_image",)),
    st.just(("end_image",)),
    st.tuples(st.just("start_region"), st.sampled_from(REGIONS)),
    st.tuples(st.just("add_tiles"), st.sampled_from(REGIONS), tiles_strategy),
    st.tuples(st.just("complete"), st.sampled_from(REGIONS), st.sampled_from([o.value for o in OUTCOMES]),
              st.one_of(st.just(()), tiles_strategy)),
)


hostile_steps = st.one_of(
    st.tuples(st.just("write_back"), st.sampled_from(REGIONS)),
    st.tuples(st.just("fill"), st.sampled_from(REGIONS)),
    st.tuples(st.just("forms"), st.sampled_from(REGIONS), st.sampled_from(["Decimal", "numpy-style"])),
    st.tuples(st.just("old_start"), st.sampled_from(REGIONS)),
)

buffered_steps = st.one_of(
    st.tuples(st.just("buffered_add"), st.sampled_from(REGIONS), st.integers(0, len(TILES) - 1),
              st.sampled_from(["succeeded", "failed"])),
    st.just(("flush",)),
)

#: Another worker's steps in the window after a lost request landed: one or two, by one worker.
Other = Tuple[int, Tuple[Tuple[Any, ...], ...]]
others = st.one_of(st.none(), st.tuples(st.integers(0, WORKERS - 1),
                                        st.lists(steps, min_size=1, max_size=2).map(tuple)))


def on_region(region_id: str) -> st.SearchStrategy[Tuple[Any, ...]]:
    """A step on one region: start, tiles, completion."""
    return st.one_of(
        st.just(("start_region", region_id)),
        st.tuples(st.just("add_tiles"), st.just(region_id), tiles_strategy),
        st.tuples(st.just("complete"), st.just(region_id), st.sampled_from([o.value for o in OUTCOMES]), st.just(())))


elsewhere_steps = st.one_of(
    st.tuples(st.just("start_region"), st.sampled_from(REGIONS)),
    st.tuples(st.just("add_tiles"), st.sampled_from(REGIONS), tiles_strategy),
    st.tuples(st.just("complete"), st.sampled_from(REGIONS), st.sampled_from([o.value for o in OUTCOMES]),
              st.just(())),
).map(lambda step: ("elsewhere", step))

two_call_steps = st.tuples(
    st.just("two_calls"), st.sampled_from(REGIONS), st.sampled_from([o.value for o in OUTCOMES]),
    st.sampled_from(["success", "failure"]), st.sampled_from([None, 0, 1, 2]),
    st.one_of(st.none(), st.sampled_from(FAULT_KINDS)), st.integers(0, 2), st.none(),  # (no gap: below)
).map(lambda step: step if step[3] == "success" else (*step[:2], "FAILED", *step[3:]))  # (failure: FAILED)
gaps = st.tuples(st.integers(1, WORKERS - 1), st.sampled_from(["reconcile", "fail_stale"]))

repair_steps = st.one_of(st.just(("reconcile",)), st.just(("fail_stale",)),
                         st.tuples(st.just("old_counts"), st.sampled_from(REGIONS)))


class Workers(RuleBasedStateMachine):
    """The rules: worker steps with faults; the invariant: the tables equal the model."""

    pool: List[Worker] = []  # set by the fixture: the workers, on tables made for the test
    reader: Tuple[JobTable, RegionRequestTable]

    def __init__(self) -> None:
        super().__init__()
        self.image_id = f"img-{uuid.uuid4().hex[:12]}"
        self.model = Model()
        self.workers = self.pool
        for worker in self.workers:
            worker.held.clear()
            worker.fault.disarm()
        self.end_time: Optional[int] = None
        self.start_times: Dict[str, int] = {}
        tile_buffer._forget_all()  # nothing buffered from an earlier program

    @initialize(started=st.booleans())
    def begin(self, started: bool) -> None:
        """Half the programs begin with the image started (the others start it, or not, as a step): the
        steps that need the job (the two calls, the repairs between them) meet one more often."""
        if started:
            self.take(0, ("start_image",), None, None)

    @rule(worker=st.integers(0, WORKERS - 1), step=steps,
          fault=st.one_of(st.none(), st.sampled_from(FAULT_KINDS)),
          other=others)
    def take_a_step(self, worker: int, step: Tuple[Any, ...], fault: Optional[str],
                    other: Optional[Other]) -> None:
        self.take(worker, step, fault, other)

    @rule(worker=st.integers(0, WORKERS - 1), step=two_call_steps)
    def finish_with_the_two_calls(self, worker: int, step: Tuple[Any, ...]) -> None:
        """The model runner's handler finishes a region with its two calls, in either order, the worker dying
        after any of them (a fault on one of its requests): the message comes again as another such step."""
        self.take(worker, step, None, None)

    @rule(worker=st.integers(0, WORKERS - 1), step=two_call_steps, stop_after=st.sampled_from([None, 2]), gap=gaps)
    def repair_between_the_two_calls(self, worker: int, step: Tuple[Any, ...], stop_after: Optional[int],
                                     gap: Gap) -> None:
        """Another worker runs a repair (reconcile, fail-stale) between the model runner's two calls, in either
        order (issue 23, finding 9: a reconcile there once counted the region twice)."""
        self.take(worker, (*step[:4], stop_after, *step[5:7], gap), None, None)

    @rule(worker=st.integers(0, WORKERS - 1), other=st.integers(1, WORKERS - 1), step=two_call_steps,
          again=two_call_steps, fault=st.one_of(st.none(), st.sampled_from(FAULT_KINDS)))
    def a_second_attempt(self, worker: int, other: int, step: Tuple[Any, ...], again: Tuple[Any, ...],
                         fault: Optional[str]) -> None:
        """The model runner v3's scheduler starts a running image again (its attempt looks stalled; or the image
        message comes twice; issue 27): another worker starts the image again (a fault on its request) while
        this one finishes a region with the two calls (dying after any, as that rule); the second attempt then
        finishes the same region again, a finished region met again, or its message's first run."""
        second = (worker + other) % WORKERS
        self.take(second, ("start_image",), fault, None)
        self.take(worker, step, None, None)
        self.take(second, (again[0], step[1], *again[2:]), None, None)

    @rule(worker=st.integers(0, WORKERS - 1), step=repair_steps,
          fault=st.one_of(st.none(), st.sampled_from(FAULT_KINDS)),
          other=others)
    def take_a_repair_step(self, worker: int, step: Tuple[Any, ...], fault: Optional[str],
                           other: Optional[Other]) -> None:
        """A worker runs a repair (reconcile, fail-stale) while others act, or an old worker drifts a count."""
        self.take(worker, step, fault, other)

    @rule(worker=st.integers(0, WORKERS - 1), step=hostile_steps,
          fault=st.one_of(st.none(), st.sampled_from(FAULT_KINDS)),
          other=others)
    def take_a_hostile_step(self, worker: int, step: Tuple[Any, ...], fault: Optional[str],
                            other: Optional[Other]) -> None:
        """A stale item written back, a region filled near its budget, held numbers in another accepted
        form, a region started by the model runner's own code, while others act."""
        self.take(worker, step, fault, other)

    @rule(worker=st.integers(0, WORKERS - 1), step=buffered_steps,
          fault=st.one_of(st.none(), st.sampled_from(FAULT_KINDS)),
          other=others)
    def take_a_buffered_step(self, worker: int, step: Tuple[Any, ...], fault: Optional[str],
                             other: Optional[Other]) -> None:
        """A tile buffered (``DDB_TILE_FLUSH_SECONDS``), or every buffered tile written, while others act;
        the other steps write a region's buffered tiles first."""
        self.take(worker, step, fault, other)

    @rule(worker=st.integers(0, WORKERS - 1), step=elsewhere_steps,
          fault=st.one_of(st.none(), st.sampled_from(FAULT_KINDS)), other=others)
    def take_a_step_elsewhere(self, worker: int, step: Tuple[Any, ...], fault: Optional[str],
                              other: Optional[Other]) -> None:
        """Another process starts, writes or completes a region while this one may hold its tiles buffered."""
        self.take(worker, step, fault, other)

    @rule(data=st.data(), worker=st.integers(0, WORKERS - 1), region_id=st.sampled_from(REGIONS),
          fault=st.sampled_from(("lost-response", "lost-timeout")), other_worker=st.integers(0, WORKERS - 1))
    def start_with_a_window(self, data: st.DataObject, worker: int, region_id: str, fault: str,
                            other_worker: int) -> None:
        """A start (of a new region, often) whose answer is lost while another worker works on the region
        in the window: starts it, records tiles, completes it."""
        window = data.draw(st.lists(on_region(region_id), min_size=1, max_size=2).map(tuple))
        self.take(worker, ("start_region", region_id), fault, ((worker + 1 + other_worker % 2) % WORKERS, window))

    @rule(worker=st.integers(0, WORKERS - 1), other=st.integers(0, WORKERS - 1), region_id=st.sampled_from(REGIONS),
          index=st.integers(0, len(TILES) - 1), state=st.sampled_from(["succeeded", "failed"]))
    def buffer_across_a_restart_elsewhere(self, worker: int, other: int, region_id: str, index: int,
                                          state: str) -> None:
        """This process reads a region, another restarts it (its failed tiles cleared), then this one buffers
        a tile its copy showed."""
        for who, step in ((worker, ("look", region_id)), (other, ("elsewhere", ("start_region", region_id))),
                          (worker, ("buffered_add", region_id, index, state))):
            self.take(who, step, None, None)

    def teardown(self) -> None:
        """The program ends as a process does at a normal exit: the tiles it buffered are written, and the
        tables are still as the model says."""
        self.take(0, ("flush",), None, None)

    @rule()
    def crash_the_process(self) -> None:
        """The process dies with tiles buffered (SIGKILL) and comes back: those tiles are absent, never
        half-written; the workers hold nothing."""
        tile_buffer._forget_all()
        for worker in self.workers:
            worker.dies()
        for region in self.model.regions.values():
            region.pending = set()
        assert self.matches(self.model), "a crash lost a written tile or wrote a buffered one"

    def take(self, worker: int, step: Tuple[Any, ...], fault: Optional[str],
             other: Optional[Other]) -> None:
        interleaved: List[Optional[type]] = []
        window: Tuple[Tuple[Any, ...], ...] = ()
        between = None
        if fault in ("lost-response", "lost-timeout") and other is not None and other[0] != worker:
            other_worker, window = other

            def between() -> None:
                for other_step in window:
                    interleaved.append(self.workers[other_worker].run(self.image_id, other_step))
        if step[0] == "two_calls" and step[7] is not None:  # another worker's repair, in its own thread
            repairer, repair = self.workers[(worker + step[7][0]) % WORKERS], (step[7][1],)
            self.workers[worker].between = lambda: repairer.thread.submit(repairer.run, self.image_id, repair).result()
        if fault is not None:
            self.workers[worker].fault.arm(fault, between)
        raised = self.workers[worker].run(self.image_id, step)
        hit = self.workers[worker].fault.hit
        self.workers[worker].fault.disarm()
        if step[0] == "buffered_add" and self.workers[worker].wrote_at_once:  # not buffered: written at once
            step = ("add_tiles", step[1], ((step[2], step[3]),))
        if step[0] == "two_calls":  # (whether the job's call was tied, as the worker saw the job; the gap's raise)
            step = (*step, self.workers[worker].tied, self.workers[worker].between_raised)
        # Without another worker's step in between, the step took effect alone. With one, the lost
        # request may have been the step's own write or one before it: either order may be right.
        # Tiles are recorded by content, in any attempt (a late tile is recorded too): an append whose
        # answer was lost may add again, after the other step, tiles that step cleared (a restart
        # clears the failed ones), never lose one. So may the write of the buffered tiles a step flushes
        # (-1: those tiles recorded again).
        # A start that tried to create the region (it held no copy) and lost the answer: for a new region
        # its write landed first; for one that existed, a start the window made (a later start time) is
        # joined, not started again (docs/decisions.md); -2: the start changed nothing, and raised nothing.
        call = step[1] if step[0] == "elsewhere" else step  # (another process's step: the same call)
        new_region = call[0] == "start_region" and call[1] not in self.model.regions  # (the model is as before)
        rest = list(range(1, len(interleaved) + 1))
        orders = [[0, *rest], [*rest, 0]] if interleaved else [[0]]
        creating = interleaved and call[0] == "start_region" and hit == "UpdateItem"
        if creating and new_region:
            orders = [[0, *rest]]
        elif creating:
            orders.append([*rest, -2])
        if interleaved and call[0] == "add_tiles":
            orders.append([0, *rest, 0])
        if interleaved and any(region.pending for region in self.model.regions.values()):
            orders.append([0, *rest, -1])
            orders.append([*rest, -1, 0])  # (the step's flush landed before the window, its resend after)
        taken = [step, *window[:len(interleaved)]]
        raised_by = [raised, *interleaved]
        for order in orders:
            model = copy.deepcopy(self.model)
            expected = {index: model.apply(taken[index]) if index >= 0
                        else model.record_again(self.model) if index == -1 else None
                        for index in order}  # (a step again: its last answer)
            if all(index == -1 or error_class(raised_by[max(index, 0)], expected[index]) for index in order) \
                    and self.matches(model):
                self.model = model
                return
        pytest.fail(f"no order of {taken} explains the tables; raised {raised_by}; "
                    f"model before: {self.model}; tables: {self.tables()}")

    @rule(worker=st.integers(0, WORKERS - 1))
    def crash(self, worker: int) -> None:
        """A worker dies and comes back: it holds nothing of what it was doing."""
        self.workers[worker].dies()

    def tables(self) -> Dict[str, Any]:
        jobs, regions = self.reader
        jobs, regions = store_of(jobs), store_of(regions)
        with failing_as(CompleteRegionException, "check"):
            job = jobs.read(jobs.key(self.image_id))
            # Read around the buffer: a read through list_regions would write the tiles it holds.
            stored = {item.region_id: item for item in regions.query(regions.key(self.image_id))}
        return {"job": job, "regions": stored}

    def matches(self, model: Model) -> bool:
        state = self.tables()
        job = state["job"]
        if (job is not None) != model.started:
            return False
        if job is not None:
            if (job.region_success, job.region_error) != (model.success, model.error):
                return False
            if (job.end_time is not None) != model.ended:
                return False
        if set(state["regions"]) != set(model.regions):
            return False
        for region_id, region in model.regions.items():
            item = state["regions"][region_id]
            succeeded = [key(tile) for tile in item.succeeded_tiles or []]
            failed = [key(tile) for tile in item.failed_tiles or []]
            if (item.region_status, item.region_retry_count) != (region.status, region.retries):
                return False
            if sorted(succeeded) != sorted(region.succeeded) or sorted(failed) != sorted(region.failed):
                return False  # a tile lost, doubled, in the wrong list, or written while it should be buffered
            if [item.succeeded_tile_count, item.failed_tile_count] != (region.counts or [len(succeeded), len(failed)]):
                return False
        return True

    @invariant()
    def one_end_that_never_moves(self) -> None:
        job = self.tables()["job"]
        if job is not None and job.end_time is not None:
            if self.end_time is None:
                self.end_time = int(job.end_time)
            assert int(job.end_time) == self.end_time, "the job's end_time moved"
        if job is not None:
            assert job.region_success + job.region_error <= len(self.model.regions) + self.model.bare, \
                "more outcomes than regions (and bare counts)"

    @invariant()
    def no_attempt_rolled_back(self) -> None:
        """A region's start_time only moves forward (a stale item written back never restores it)."""
        for region_id, region in self.tables()["regions"].items():
            if region.start_time is not None:
                assert int(region.start_time) >= self.start_times.get(region_id, 0), f"{region_id} went back"
                self.start_times[region_id] = int(region.start_time)


@pytest.fixture
def workers(dynamodb_local, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint)  # (SPELLINGS)
    suffix = uuid.uuid4().hex[:8]
    job_name, region_name = f"jobs-model-{suffix}", f"regions-model-{suffix}"
    reader = (JobTable(job_name, host=dynamodb_local.endpoint),
              RegionRequestTable(region_name, host=dynamodb_local.endpoint))
    for table in reader:
        table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    Workers.reader = reader
    Workers.pool = [Worker(dynamodb_local.endpoint, job_name, region_name, n) for n in range(WORKERS)]
    yield
    for worker in Workers.pool:
        worker.thread.shutdown(wait=True)
    tile_buffer._forget_all()  # (tiles a program left buffered are not written into deleted tables at exit)
    for table in reader:
        table.model.delete_table()


#: Programs and steps per program: the default tier's small profile, the full tier's (CI), and ``./dev soak``'s
#: (``STATE_MACHINE_EXAMPLES`` / ``STATE_MACHINE_STEPS`` override either).
PROFILES = {"default": (20, 25), "full": (60, 30)}


def test_the_tables_follow_the_model_whatever_the_faults(workers, request):
    examples, steps = PROFILES["full" if request.config.getoption("--full") else "default"]
    shrink = os.environ.get("STATE_MACHINE_SHRINK", "1") != "0"  # (0: report the first failing program as found)
    run_state_machine_as_test(Workers, settings=settings(
        phases=list(Phase) if shrink else [Phase.explicit, Phase.reuse, Phase.generate],
        max_examples=int(os.environ.get("STATE_MACHINE_EXAMPLES", examples)),
        stateful_step_count=int(os.environ.get("STATE_MACHINE_STEPS", steps)),
        deadline=None, database=None, suppress_health_check=list(HealthCheck)))
