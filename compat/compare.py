"""Runs ``run_image.py`` three ways, each in its own process, on one DynamoDB Local, and compares what the tables
hold at the end and what the job and region tables' requests cost:

    python compat/compare.py [--out-dir DIR]

(a) on the model runner's own tables, (b) on this package's, (c) on this package's with
``DDB_TILE_FLUSH_SECONDS=5`` (buffered tile writes). Exit 0 when the compared values are identical, 1 when any
differs, (b) or (c) crashed, or (c) misses its cost target (at most 0.2x the calls and 0.3x the capacity units
of (a)),
2 when run (a) itself failed or DynamoDB Local cannot start (the harness or its environment is broken).
Scenario 2 (a finished region's message delivered again) is reported, never compared. Then run (d), the fleet
mid-move (``mixed_fleet_report``): its counts after ``pynamodb-tables reconcile`` must equal (b)'s (exit 1
otherwise). Then the crash table (``crash_cases.py``): workers killed after each of their calls on a region and
the message delivered again, on the model runner's own tables and on this package's, plain and buffered; exit 1
if any case on this package is not whole (``--crash-cases`` runs only those).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
FLUSH_ENV = "DDB_TILE_FLUSH_SECONDS"


@dataclass(frozen=True)
class Run:
    name: str  # its result and log files, and the suffix of its tables
    label: str
    short: str  # its column's header
    tables: str  # run_image.py --tables
    env: Dict[str, str] = field(default_factory=dict)


RUNS = (
    Run("upstream", "(a) model runner's tables", "(a) its own tables", "upstream"),
    Run("package", "(b) pynamodb_tables", "(b) pynamodb_tables", "package"),
    Run("buffered", f"(c) pynamodb_tables, {FLUSH_ENV}=5", "(c) buffered", "package", {FLUSH_ENV: "5"}),
)
MIXED = Run("mixed", "(d) fleet mid-move, reconciled", "(d) fleet mid-move", "mixed")
#: Run (c)'s cost target, as fractions of run (a)'s.
MAX_CALLS, MAX_UNITS = 0.2, 0.3
RUN_TIMEOUT = 300
Row = Tuple[Any, ...]  # a name, then one value per run


def run(spec: Run, out_dir: Path, endpoint: str) -> Tuple[Optional[Dict[str, Any]], Path, float]:
    """One run in its own process; its result (None if it crashed), its log and its wall time."""
    out, log = out_dir / f"{spec.name}.json", out_dir / f"{spec.name}.log"
    out.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != FLUSH_ENV}  # only the run that says so buffers
    env.update(spec.env)
    started = time.monotonic()
    with log.open("w") as stream:
        try:
            code = subprocess.run(
                [sys.executable, str(HERE / "run_image.py"), "--tables", spec.tables, "--out", str(out),
                 "--name", spec.name, "--dynamodb-endpoint", endpoint],
                stdout=stream,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=RUN_TIMEOUT,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            stream.write(f"\n[compare] run timed out after {RUN_TIMEOUT}s\n")
            code = -1
    seconds = time.monotonic() - started
    if code != 0 or not out.exists():
        return None, log, seconds
    return json.loads(out.read_text()), log, seconds


def log_tail(log: Path) -> str:
    tail = [line for line in log.read_text().splitlines() if not line.startswith("{")][-25:]
    return "\n".join(f"    {line}" for line in tail)


def short_region(region_id: str) -> str:
    return region_id.rsplit("-compat-job", 1)[0]


def main_phase_errors(result: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [e for e in result["errors"] if not e["phase"].startswith("redeliver")]


#: What is compared of each region (the tile lists as sets of tiles with their multiplicity: the model runner's
#: two tile workers append in either order).
REGION_FIELDS = ("status", "succeeded_tile_count", "failed_tile_count", "region_retry_count", "succeeded_tiles",
                 "failed_tiles")
LISTS = ("succeeded_tile_list", "failed_tile_list")


def digest(tiles: Sequence[str]) -> str:
    """A short name for a sorted tile list: equal lists have equal names."""
    return hashlib.sha1("\n".join(tiles).encode()).hexdigest()[:8]


def region_cell(region: Dict[str, Any]) -> str:
    """One region of one run, in one cell: status, counts, tile lists (lengths and digest), retries, end."""
    lists = [region[name] for name in LISTS]
    return (f"{region['status']} {region['succeeded_tile_count']}+{region['failed_tile_count']} "
            f"tiles {len(lists[0])}+{len(lists[1])} #{digest([*lists[0], '|', *lists[1]])} "
            f"retries {region['region_retry_count']}{' ended' if region['end_time_set'] else ''}")


def rows(result: Dict[str, Any]) -> Dict[str, Any]:
    """The compared values of one run, by name."""
    main = result["main"]
    values: Dict[str, Any] = {f"job.{k}": v for k, v in main["job"].items()}
    for region_id, region in main["regions"].items():
        name = f"region {short_region(region_id)} [{region['designed']}]"
        for field_name in (*REGION_FIELDS[:4], *LISTS, "end_time_set"):
            values[f"{name}.{field_name}"] = region[field_name]
    values["image status notifications"] = " > ".join(main["image_status_events"])
    values["region status notifications"] = main["region_status_events"]
    values["features in the S3 sink"] = main["features_in_sink"]
    values["model calls (ok/failed)"] = f"{main['model_calls']['succeeded']}/{main['model_calls']['failed']}"
    values["unexpected errors logged"] = len(main_phase_errors(result))
    return values


def shown(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} tiles #{digest(value)}"
    return str(value)


def table(rows_: Sequence[Row], headers: Sequence[str], mark_diff: bool = True) -> Tuple[str, int]:
    """Rows side by side, one column per run; with ``mark_diff``, a row whose values are not all equal is marked
    (and counted)."""
    widths = [max(len(shown(r[i])) for r in [*rows_, headers]) + 2 for i in range(len(headers) - 1)]
    lines = ["".join(f"{shown(h):<{w}}" for h, w in zip(headers, widths)) + shown(headers[-1])]
    diffs = 0
    for row in rows_:
        differs = mark_diff and any(value != row[1] for value in row[2:])
        diffs += differs
        lines.append("".join(f"{shown(v):<{w}}" for v, w in zip(row, widths)) + shown(row[-1])
                     + ("   <-- DIFFERS" if differs else ""))
    return "\n".join(lines), diffs


def final_tables_report(results: List[Dict[str, Any]]) -> int:
    """The three runs' final tables side by side (a region per line); the number of values that differ."""
    values = [rows(result) for result in results]
    names = list(values[0]) + [n for v in values[1:] for n in v if n not in values[0]]
    differing = [name for name in dict.fromkeys(names)
                 if any(v.get(name, "(absent)") != values[0].get(name, "(absent)") for v in values[1:])]
    main = results[0]["main"]
    tiles = sum(len(region[name]) for region in main["regions"].values() for name in LISTS)
    print(f"\n== one image ({len(main['regions'])} regions, {tiles} tiles, "
          f"{main['model_calls']['failed']} refused by the model) through osml-model-runner 2.3.0: final tables ==")
    shown_rows: List[Row] = [(name, *(v.get(name, "(absent)") for v in values)) for name in names
                             if not name.startswith("region ")]
    region_ids = list(dict.fromkeys(r for result in results for r in result["main"]["regions"]))
    for region_id in region_ids:
        cells = [result["main"]["regions"].get(region_id) for result in results]
        designed = next(c for c in cells if c)["designed"]
        shown_rows.append((f"region {short_region(region_id)} [{designed}]",
                           *(region_cell(c) if c else "(absent)" for c in cells)))
    text, _ = table(shown_rows, ("", *(spec.short for spec in RUNS)))
    print(text)
    print("(a region: status succeeded+failed counts, tiles in its succeeded+failed lists #digest of the lists, "
          "retry count, ended)")
    if differing:
        print(f"\nvalues that differ from (a) ({len(differing)}):")
        for name in differing:
            print(f"  {name}: " + ", ".join(f"{spec.label[:3]} {shown(v.get(name, '(absent)'))}"
                                            for spec, v in zip(RUNS, values)))
    for spec, result in zip(RUNS, results):
        errors = main_phase_errors(result)
        if errors:
            print(f"\nunexpected errors logged in {spec.label} ({len(errors)}):")
            print(describe_errors(errors))
    print("\n(expected errors: the model's refusals of tiles, logged by the model runner: "
          + ", ".join(f"{spec.label[:3]} {result['expected_model_errors']}" for spec, result in
                      zip(RUNS, results)) + ")")
    return len(differing)


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def cost_report(results: List[Dict[str, Any]]) -> int:
    """The job and region tables' requests of each run side by side, and run (c)'s target: 1 if it is missed
    while enforced."""
    figures = [result["main"]["requests"] for result in results]
    a = figures[0]
    operations = sorted({op for f in figures for op in f["calls"]})
    print("\n== the job and region tables' requests during the image (every DynamoDB client of the run metered; "
          "units: DynamoDB Local's ConsumedCapacity, ReturnConsumedCapacity=TOTAL) ==")
    cost_rows: List[Row] = []
    for op in operations:
        cost_rows.append((f"calls: {op}", *(f["calls"].get(op, 0) for f in figures), "", ""))

    def line(name: str, key: str) -> Row:
        return (name, *(f"{f[key]:g}" for f in figures), *(ratio(f[key], a[key]) for f in figures[1:]))

    for f in figures:
        f["capacity_units"] = round(f["read_units"] + f["write_units"], 1)
    cost_rows += [line("calls", "total_calls"), line("read units", "read_units"), line("write units", "write_units"),
                  line("capacity units", "capacity_units")]
    text, _ = table(cost_rows, ("", *(spec.short for spec in RUNS), "(b)/(a)", "(c)/(a)"), mark_diff=False)
    print(text)
    c = figures[2]
    buffered = results[2]
    checks = [(f"(c) calls <= {MAX_CALLS}x (a)'s", c["total_calls"] / a["total_calls"], MAX_CALLS),
              (f"(c) capacity units <= {MAX_UNITS}x (a)'s", c["capacity_units"] / a["capacity_units"], MAX_UNITS)]
    print(f"target ({FLUSH_ENV}={buffered.get('tile_flush_seconds')} in run (c)):")
    missed = 0
    for name, value, limit in checks:
        met = value <= limit
        missed += not met
        print(f"  {'met   ' if met else 'MISSED'} {name}: {value:.2f}x")
    return missed


def describe_errors(errors: List[Dict[str, Any]], indent: str = "  ", chains: bool = True) -> str:
    """Each distinct error once, with its count (and with ``chains``, its exception chain and key frames)."""
    groups: Dict[str, Tuple[int, Dict[str, Any]]] = {}
    for error in errors:
        key = error["message"] + "|" + "|".join(link["error"] for link in error["chain"])
        count, first = groups.get(key, (0, error))
        groups[key] = (count + 1, first)
    lines: List[str] = []
    for count, error in groups.values():
        lines.append(f"{indent}- [{error['phase']}] x{count} {error['source']}: {error['message'][:300]}")
        for link in error["chain"][:3] if chains else []:
            lines.append(f"{indent}    {link['error'][:300]}")
            for frame in link["frames"][-3:]:
                lines.append(f"{indent}      at {frame[:220]}")
    return "\n".join(lines)


def redelivery_report(results: List[Dict[str, Any]]) -> str:
    lines: List[str] = []
    redelivered = [result["redelivery"] for result in results]
    if len({len(r) for r in redelivered}) > 1:
        lines.append("regions redelivered: " + ", ".join(
            f"{spec.label[:3]} {len(r)}" for spec, r in zip(RUNS, redelivered))
            + " (a run that queued no region has none to redeliver)")
    for each in zip(*redelivered):
        first = each[0]
        lines.append(f"\n-- redelivered: region {short_region(first['region_id'])} (ended {first['designed']}) --")
        pairs: List[Row] = []
        for run_key in ("region_count", "region_success", "region_error", "end_time_set"):
            pairs.append((f"job.{run_key}", *(r["job"].get(run_key) for r in each)))
        for field_name in REGION_FIELDS:
            pairs.append((f"region.{field_name}", *((r["region"] or {}).get(field_name) for r in each)))
        for events in ("image_status_events", "region_status_events"):
            pairs.append((events.replace("_events", " notifications").replace("_", " "),
                          *(" > ".join(r[events]) or "-" for r in each)))
        pairs.append(("unexpected errors logged", *(len(r["errors"]) for r in each)))
        text, _ = table(pairs, ("", *(spec.short for spec in RUNS)), mark_diff=False)
        lines.append(text)
        for spec, r in zip(RUNS, each):
            if r["errors"]:
                lines.append(f"  errors in {spec.label} (details in {spec.name}.json):")
                lines.append(describe_errors(r["errors"], indent="    ", chains=False))
    return "\n".join(lines)


#: What the fleet mid-move must count as (b) does, once reconciled: the job's counts, each region's outcome and
#: tile counts (retries and tile lists differ: its old workers redo tiles and restart regions their own way).
MIXED_REGION_FIELDS = ("status", "succeeded_tile_count", "failed_tile_count")


def counts(result: Dict[str, Any], phase: str = "main") -> Dict[str, Any]:
    """The job's counts, and each region's status and tile counts (one value: "STATUS succeeded+failed")."""
    tables = result[phase]
    values = {f"job.{k}": tables["job"].get(k) for k in ("region_count", "region_success", "region_error",
                                                          "end_time_set")}
    for region_id, region in tables["regions"].items():
        status, succeeded, failed = (region[name] for name in MIXED_REGION_FIELDS)
        values[f"region {short_region(region_id)} [{region['designed']}]"] = f"{status} {succeeded}+{failed}"
    return values


def mixed_fleet_report(b: Dict[str, Any], out_dir: Path, endpoint: str) -> int:
    """Run (d), the fleet mid-move (``run_image.py --tables mixed``), and compare its counts after
    ``pynamodb-tables reconcile`` with (b)'s; the number of differences (a drift-free run (d) counts as one: it
    would not have shown reconcile anything)."""
    label = MIXED.label
    d, log, seconds = run(MIXED, out_dir, endpoint)
    print(f"\n== the fleet mid-move: old and new workers on the same tables, then reconcile ==\n"
          f"{label}: {'done' if d else 'CRASHED'} in {seconds:.1f}s (log: {log})")
    if d is None:
        print(log_tail(log))
        return 1
    if d.get("new_workers_tables") != "pynamodb_tables":
        print(f"run (d)'s new workers used {d.get('new_workers_tables')}, not pynamodb_tables")
        return 1
    before = counts(d, "before")
    print("drifts reconcile found and fixed:")
    for drift in d["drifts"]:
        where = "job" if drift["region_id"] is None else f"region {short_region(drift['region_id'])}"
        print(f"  {where}.{drift['attribute']}: {drift['stored']} -> {drift['recounted']}"
              f"{'' if drift['fixed'] else ' (NOT fixed)'}")
    vb, vd = counts(b), counts(d)
    compared: List[Row] = [(name, f"{vb.get(name, '(absent)')}", f"{before.get(name)} -> {vd.get(name, '(absent)')}")
                           for name in list(vb) + [n for n in vd if n not in vb]]
    text, _ = table(compared, ("", RUNS[1].short, f"{MIXED.short} (before -> after reconcile)"), mark_diff=False)
    print(text)
    diffs = sum(vb.get(name) != vd.get(name) for name in set(vb) | set(vd))
    if not d["drifts"]:
        print("run (d) showed no drift: the scenario did not exercise reconcile")
        diffs += 1
    if d["errors"]:
        print(f"unexpected errors logged in {label} ({len(d['errors'])}):")
        print(describe_errors(d["errors"]))
        diffs += len(d["errors"])
    print(f"{label}: {'the same counts as (b)' if not diffs else f'{diffs} difference(s) from (b)'}")
    return diffs


def compare(out_dir: Path, endpoint: str) -> int:
    results: List[Dict[str, Any]] = []
    for spec in RUNS:
        result, log, seconds = run(spec, out_dir, endpoint)
        print(f"{spec.label}: {'done' if result else 'CRASHED'} in {seconds:.1f}s (log: {log})")
        if result is None:
            print("  last lines of its log:")
            print(log_tail(log))
            if spec is RUNS[0]:
                print("run (a) failed: the harness or its environment is broken, nothing to compare")
                return 2
            print(f"\nRESULT: run {spec.label} crashed (see its log above)")
            return 1
        if spec.tables == "package" and result.get("tables_in_use") != "pynamodb_tables":
            print(f"run {spec.label} used {result.get('tables_in_use')}, not pynamodb_tables: the shim did not take")
            return 2
        results.append(result)
    if results[0].get("tables_in_use") != "aws.osml.model_runner.database":
        print(f"run (a) used {results[0].get('tables_in_use')}, not the model runner's tables")
        return 2

    diffs = final_tables_report(results)
    missed = cost_report(results)
    print("\n== scenario 2: a finished region's message delivered again (reported, not compared) ==")
    print(redelivery_report(results))
    mixed_diffs = mixed_fleet_report(results[1], out_dir, endpoint)
    not_whole = crash_report(out_dir, endpoint)

    failures = []
    if diffs:
        failures.append(f"{diffs} compared value(s) differ between (a), (b) and (c)")
    if missed:
        failures.append(f"run (c) misses {missed} of its cost targets")
    if mixed_diffs:
        failures.append(f"the fleet mid-move after reconcile differs from (b) ({mixed_diffs} value(s))")
    if not_whole:
        failures.append(f"{not_whole} crash case(s) on pynamodb_tables not whole")
    if failures:
        print("\nRESULT: " + "; ".join(failures))
        return 1
    print("\nRESULT: identical: the model runner's workers end with the same tables on pynamodb_tables, buffered "
          "or not; a fleet moved over halfway, once reconciled, counts as (b); every crash case whole on "
          "pynamodb_tables")
    return 0


def crash_report(out_dir: Path, endpoint: str) -> int:
    """The crash table (``crash_cases.crash_table``), with its own model endpoint; the package cases not whole."""
    from crash_cases import CASES, FLAVORS, crash_table
    from fake_model import FakeModel

    started = time.monotonic()
    print(f"\n== the crash table: a worker dies right after a call on a region, its message goes to a fresh "
          f"worker ({len(CASES)} cases x {len(FLAVORS)}; 4 regions of 16 tiles, truth 3+1) ==")
    with FakeModel() as model:
        not_whole = crash_table(out_dir, endpoint, model.url)
    print(f"(the crash table: {time.monotonic() - started:.0f}s; each case's workers' logs in {out_dir}/crash-*)")
    return not_whole


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "pynamodb-tables-compat",
        help="where each run's result (JSON) and log go",
    )
    parser.add_argument("--crash-cases", action="store_true", help="run only the crash table")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    from pynamodb_tables.testing import DynamoDBLocal

    started = time.monotonic()
    try:
        server = DynamoDBLocal().start()
    except RuntimeError as exc:
        print(f"compat: DynamoDB Local cannot start: {exc}")
        return 2
    print(f"DynamoDB Local at {server.endpoint} (the runs' DynamoDB; S3, SQS and SNS are moto's)")
    try:
        if args.crash_cases:
            code = 1 if crash_report(args.out_dir, server.endpoint) else 0
        else:
            code = compare(args.out_dir, server.endpoint)
    finally:
        server.stop()
    print(f"(./dev compat: {time.monotonic() - started:.0f}s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
