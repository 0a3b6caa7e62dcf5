"""What a worker does, as plain functions: run in threads and in spawned processes by the tests.

Each function builds its own table objects from ``(host, job_table_name, region_table_name)``,
as a separate worker process would, and returns what happened rather than raising.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, Optional, Sequence, Tuple

from pynamodb_tables import (
    ImageAlreadyEndedError,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileState,
    complete_region,
    connection,
    tiles_to_process,
)

Names = Tuple[Optional[str], str, str]  # endpoint, job table, region table


def open_tables(names: Names) -> Tuple[JobTable, RegionRequestTable]:
    host, job_name, region_name = names
    return JobTable(job_name, host=host), RegionRequestTable(region_name, host=host)


def region_tiles(region_number: int, count: int = 4) -> List[List[List[int]]]:
    return [[[region_number * 1000 + 10 * n, 0], [10, 10]] for n in range(count)]


def outcome_of(region_number: int) -> RequestStatus:
    """Every sixth region fails; the rest succeed."""
    return RequestStatus.FAILED if region_number % 6 == 0 else RequestStatus.SUCCESS


def deliver_region(names: Names, image_id: str, region_number: int,
                   barrier: Optional[Any] = None) -> str:
    """One delivery of a region message: start (or restart), record tiles, complete.

    Returns ``"done"``, ``"already-complete"`` (a duplicate of a finished region: its start replays
    it, ``SUCCESS``, and its completion changes nothing), or the text of any other error.
    """
    job_table, region_table = open_tables(names)
    if barrier is not None:
        barrier.wait()
    try:
        region = region_table.start_region_request(
            RegionRequestItem(image_id=image_id, region_id=f"region-{region_number:03d}", total_tiles=4))
        if region.region_status == RequestStatus.SUCCESS.value:
            complete_region(job_table, region_table, region, RequestStatus.SUCCESS)  # (a replay)
            return "already-complete"
        outcome = outcome_of(region_number)
        for tile in tiles_to_process(region, region_tiles(region_number)):
            state = TileState.FAILED if outcome is RequestStatus.FAILED else TileState.SUCCEEDED
            region_table.add_tile(image_id, region.region_id, tile, state)
        complete_region(job_table, region_table, region, outcome)
        return "done"
    except Exception as exc:  # reported, and asserted absent, by the tests
        return f"{type(exc).__name__}: {exc}"


def deliver_regions(names: Names, image_id: str, region_numbers: Sequence[int], threads: int,
                    barrier: Optional[Any] = None) -> List[str]:
    """Deliveries of several regions from one process, on a few threads."""
    from concurrent.futures import ThreadPoolExecutor

    if barrier is not None:
        barrier.wait()
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda n: deliver_region(names, image_id, n), region_numbers))


def end_image(names: Names, image_id: str, barrier: Optional[Any] = None) -> str:
    """``"won"``, ``"already-ended"`` or the text of any other error."""
    job_table, _ = open_tables(names)
    job_table.get_image_request(image_id)  # warm the connection so the race is on the write
    if barrier is not None:
        barrier.wait()
    try:
        job_table.end_image_request(image_id)
        return "won"
    except ImageAlreadyEndedError:
        return "already-ended"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def add_tiles_one_by_one(names: Names, image_id: str, region_id: str, tiles: Sequence[Any],
                         barrier: Optional[Any] = None) -> List[str]:
    _, region_table = open_tables(names)
    region_table.get_region_request(region_id, image_id)
    if barrier is not None:
        barrier.wait()
    errors = []
    for tile in tiles:
        try:
            region_table.add_tile(image_id, region_id, tile, TileState.SUCCEEDED)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    return errors


def count_regions(names: Names, image_id: str, count: int, error_every: int,
                  barrier: Optional[Any] = None) -> List[str]:
    """``count`` seed-style counter adds; every ``error_every``-th counts an error."""
    job_table, _ = open_tables(names)
    job_table.get_image_request(image_id)
    if barrier is not None:
        barrier.wait()
    errors = []
    for n in range(count):
        try:
            job_table.complete_region_request(image_id, error=(n % error_every == 0))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    return errors


def buffer_tiles_and_return(names: Names, image_id: str, region_id: str, count: int) -> None:
    """A ``multiprocessing`` worker (its own table objects, buffering): ``count`` tiles buffered for a
    started region, then it returns, ending its process normally (``os._exit``: no ``atexit``)."""
    host, _, region_name = names
    region_table = RegionRequestTable(region_name, host=host, tile_flush_seconds=3600)
    region_table.get_region_request(region_id, image_id)
    for tile in region_tiles(0, count):
        region_table.add_tile(image_id, region_id, tile, TileState.SUCCEEDED)


class ThreadBarrier(threading.Barrier):
    """A barrier that gives up (instead of hanging a test) after a minute."""

    def __init__(self, parties: int) -> None:
        super().__init__(parties, timeout=60)


def report(queue: Any, index: int, function: str, args: Tuple[Any, ...]) -> None:
    """Process entry point: run ``function`` of this module and put ``(index, result)`` on ``queue``. As in
    the test process, no backoff is slept (``conftest.backoffs``)."""
    connection.sleep = lambda _: None
    try:
        result: Any = globals()[function](*args)
    except Exception as exc:
        result = f"{type(exc).__name__}: {exc}"
    queue.put((index, result))


def in_threads(calls: Sequence[Callable[[], Any]]) -> List[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]
