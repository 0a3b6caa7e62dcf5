"""Whole images through the public API on AWS's DynamoDB Local: calls, capacity, latency, throughput.

    python -m benchmarks.image_benchmark            # every scenario (several minutes on 2 cores)
    python -m benchmarks.image_benchmark --quick    # the 16 x 121 image only

It starts DynamoDB Local itself (``npm ci`` installs it; ``./dev bench`` does both) and
prints measured figures only. Two ways of recording tiles are compared:

- ``per-tile``: one ``add_tile`` call per tile, as the upstream worker does;
- ``recorder``: a ``TileRecorder`` per region, flushed with ``add_tiles`` (defaults: every
  1000 tiles or 10 s, and at the end of the region).

Every image: ``start_image_request``, per region ``start_region_request``, its tiles (every
10th failed), ``complete_region``, then ``end_image_request`` when the job is complete.
API calls and consumed capacity (``ReturnConsumedCapacity=TOTAL``, read and write units
together) are metered on the package's botocore clients.
"""

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from pynamodb_tables import (
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    TileRecorder,
    TileState,
    complete_region,
)

MODES = ("per-tile", "recorder")


@dataclass
class Metrics:
    calls: "Counter[str]" = field(default_factory=Counter)
    capacity: float = 0.0
    latencies: Dict[str, List[float]] = field(default_factory=lambda: defaultdict(list))
    images: int = 0
    tiles: int = 0

    def merge(self, other: "Metrics") -> None:
        self.calls.update(other.calls)
        self.capacity += other.capacity
        for name, values in other.latencies.items():
            self.latencies[name].extend(values)
        self.images += other.images
        self.tiles += other.tiles


class Meter:
    """Counts calls and consumed capacity on the package's clients (botocore ``after-call``)."""

    def __init__(self, metrics: Metrics, job_table: JobTable, region_table: RegionRequestTable) -> None:
        self.metrics = metrics
        clients = {id(client): client for client in [*job_table.clients(), *region_table.clients()]}
        for client in clients.values():
            client.meta.events.register("after-call.dynamodb", self._after_call)

    def _after_call(self, parsed: Dict[str, Any], model: Any, **_: Any) -> None:
        self.metrics.calls[model.name] += 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.metrics.capacity += float(entry.get("CapacityUnits", 0.0))


def timed(metrics: Metrics, name: str, call: Callable[..., Any], *args: Any) -> Any:
    started = time.perf_counter()
    try:
        return call(*args)
    finally:
        metrics.latencies[name].append(time.perf_counter() - started)


def region_tiles(region: int, count: int) -> Iterator[List[List[int]]]:
    side = math.ceil(count ** 0.5)
    for n in range(count):
        yield [[region * 100_000 + 512 * (n % side), 512 * (n // side)], [512, 512]]


def run_image(tables: Tuple[JobTable, RegionRequestTable], metrics: Metrics, mode: str, regions: int,
              tiles: int) -> None:
    job_table, region_table = tables
    image_id = f"image-{uuid.uuid4().hex}"
    timed(metrics, "start_image_request", job_table.start_image_request,
          JobItem(image_id=image_id, job_id="bench", region_count=regions))
    job: Optional[JobItem] = None
    for r in range(regions):
        region_id = f"region-{r}"
        region = timed(metrics, "start_region_request", region_table.start_region_request,
                       RegionRequestItem(image_id=image_id, region_id=region_id, total_tiles=tiles))
        states = [TileState.FAILED if n % 10 == 9 else TileState.SUCCEEDED for n in range(tiles)]
        if mode == "per-tile":
            for tile, state in zip(region_tiles(r, tiles), states):
                region = timed(metrics, "add_tile", region_table.add_tile, image_id, region_id, tile, state)
        else:
            recorder = TileRecorder(region_table, image_id, region_id)
            for tile, state in zip(region_tiles(r, tiles), states):
                timed(metrics, "TileRecorder.record", recorder.record, tile, state)
            region = timed(metrics, "TileRecorder.flush", recorder.flush) or region
        outcome = RequestStatus.SUCCESS if not region.failed_tile_count else RequestStatus.PARTIAL
        job = timed(metrics, "complete_region", complete_region, job_table, region_table, region, outcome)
    if job is not None and JobTable.is_image_request_complete(job):
        timed(metrics, "end_image_request", job_table.end_image_request, image_id)
    metrics.images += 1
    metrics.tiles += regions * tiles


def worker(endpoint: str, names: Tuple[str, str], mode: str, images: int, regions: int, tiles: int,
           barrier: Any = None) -> Metrics:
    """One worker process: its own table objects and clients, ``images`` images in a row."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    tables = JobTable(names[0], host=endpoint), RegionRequestTable(names[1], host=endpoint)
    metrics = Metrics()
    Meter(metrics, *tables)
    if barrier is not None:
        barrier.wait()
    for _ in range(images):
        run_image(tables, metrics, mode, regions, tiles)
    return metrics


def run_processes(endpoint: str, names: Tuple[str, str], mode: str, processes: int, images: int, regions: int,
                  tiles: int) -> Tuple[Metrics, float]:
    """``processes`` spawned workers, ``images`` images each; returns merged metrics and wall seconds."""
    if processes == 1:
        started = time.perf_counter()
        metrics = worker(endpoint, names, mode, images, regions, tiles)
        return metrics, time.perf_counter() - started
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(processes + 1)
        with context.Pool(processes) as pool:
            pending = [pool.apply_async(worker, (endpoint, names, mode, images, regions, tiles, barrier))
                       for _ in range(processes)]
            barrier.wait()  # every worker is up: the clock starts with the first call
            started = time.perf_counter()
            results = [p.get(timeout=1800) for p in pending]
            elapsed = time.perf_counter() - started
    merged = Metrics()
    for metrics in results:
        merged.merge(metrics)
    return merged, elapsed


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def print_image_report(title: str, metrics: Metrics, elapsed: float) -> Dict[str, Any]:
    calls = sum(metrics.calls.values())
    print(f"\n## {title}")
    print(f"API calls {calls / metrics.images:.0f} per image ({dict(sorted(metrics.calls.items()))}); "
          f"capacity units {metrics.capacity / metrics.images:.1f} per image, "
          f"{metrics.capacity / metrics.tiles:.3f} per tile; wall time {elapsed:.2f} s")
    print(f"{'operation':24} {'calls':>7} {'p50 ms':>8} {'p99 ms':>8}")
    latency = {}
    for name, values in sorted(metrics.latencies.items()):
        p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
        latency[name] = {"calls": len(values), "p50_ms": round(p50, 3), "p99_ms": round(p99, 3)}
        print(f"{name:24} {len(values):7d} {p50:8.2f} {p99:8.2f}")
    return {"calls_per_image": calls / metrics.images, "capacity_per_image": metrics.capacity / metrics.images,
            "capacity_per_tile": metrics.capacity / metrics.tiles, "wall_s": elapsed, "latency": latency,
            "calls": dict(metrics.calls)}


#: The upstream worker's figures for one 16 x 121 image on DynamoDB Local (one call per tile).
UPSTREAM_CALLS, UPSTREAM_UNITS = 2037, 5100


def report_targets(figures: Dict[str, Any]) -> int:
    """Print each target with its measured figure; exit status 1 if any is missed."""
    checks = []
    recorder, per_tile = figures["image 16x121 recorder"], figures["image 16x121 per-tile"]
    checks.append(("recorder image <= 120 API calls", recorder["calls_per_image"], recorder["calls_per_image"] <= 120))
    checks.append(("recorder image <= 500 capacity units", recorder["capacity_per_image"],
                   recorder["capacity_per_image"] <= 500))
    checks.append((f"per-tile image calls within 10% of upstream's {UPSTREAM_CALLS}", per_tile["calls_per_image"],
                   abs(per_tile["calls_per_image"] / UPSTREAM_CALLS - 1) <= 0.10))
    checks.append((f"per-tile image units within 10% of upstream's {UPSTREAM_UNITS}", per_tile["capacity_per_image"],
                   abs(per_tile["capacity_per_image"] / UPSTREAM_UNITS - 1) <= 0.10))
    costs = [figures[f"per-tile-cost {tiles} recorder"] for tiles in (121, 484, 1936)
             if f"per-tile-cost {tiles} recorder" in figures]
    if costs:
        spread = max(costs) / min(costs)
        checks.append(("recorder units per tile within 1.5x from 121 to 1936 tiles", spread, spread <= 1.5))
    if "throughput 8 recorder" in figures:
        gain = figures["throughput 8 recorder"] / figures["throughput 8 per-tile"]
        checks.append(("8 processes: recorder images/min >= 5x per-tile", gain, gain >= 5))
    print("\n## targets")
    for name, value, met in checks:
        print(f"{'met   ' if met else 'MISSED'} {name}: {value:.3f}")
    return 0 if all(met for _, _, met in checks) else 1


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the 16 x 121 image, one process")
    parser.add_argument("--endpoint-url", help="an already running DynamoDB Local (default: start one)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)

    server = None
    endpoint = args.endpoint_url
    if endpoint is None:
        from tests.dynamodb_local import DynamoDBLocal

        server = DynamoDBLocal().start()
        endpoint = server.endpoint
    print(f"# pynamodb_tables image benchmark on DynamoDB Local ({endpoint})")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    figures: Dict[str, Any] = {}
    try:
        suffix = uuid.uuid4().hex[:6]
        names = (f"bench-jobs-{suffix}", f"bench-regions-{suffix}")
        for table in (JobTable(names[0], host=endpoint), RegionRequestTable(names[1], host=endpoint)):
            table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)

        for mode in MODES:
            metrics, elapsed = run_processes(endpoint, names, mode, 1, 1, 16, 121)
            figures[f"image 16x121 {mode}"] = print_image_report(
                f"one image, 16 regions x 121 tiles, every 10th tile failed: {mode}", metrics, elapsed)
        if args.quick:
            return report_targets(figures)

        print("\n## capacity units per tile by tiles per region (2 regions per image)")
        print(f"{'tiles/region':>12} {'mode':>9} {'calls/image':>12} {'units/image':>12} {'units/tile':>11}")
        for tiles in (121, 484, 1936):
            for mode in MODES:
                metrics, _ = run_processes(endpoint, names, mode, 1, 1, 2, tiles)
                calls = sum(metrics.calls.values())
                figures[f"per-tile-cost {tiles} {mode}"] = metrics.capacity / metrics.tiles
                print(f"{tiles:12d} {mode:>9} {calls:12d} {metrics.capacity:12.1f} "
                      f"{metrics.capacity / metrics.tiles:11.3f}")

        print("\n## throughput: images (16 x 121) per minute by worker processes")
        print(f"{'processes':>9} {'mode':>9} {'images':>7} {'wall s':>7} {'images/min':>11}")
        for processes in (1, 4, 8):
            for mode in MODES:
                images = 1 if mode == "per-tile" else 3
                metrics, elapsed = run_processes(endpoint, names, mode, processes, images, 16, 121)
                rate = metrics.images / elapsed * 60
                figures[f"throughput {processes} {mode}"] = rate
                print(f"{processes:9d} {mode:>9} {metrics.images:7d} {elapsed:7.1f} {rate:11.1f}")
        return report_targets(figures)
    finally:
        if server is not None:
            server.stop()
        if args.json:
            with open(args.json, "w") as out:
                json.dump(figures, out, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
