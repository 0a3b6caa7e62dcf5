"""Runs ``run_image.py`` on the model runner's own tables (a) and on this package's (b), in separate processes,
and compares what the tables hold at the end.

    python compat/compare.py [--out-dir DIR]

Exit 0 when the compared values are identical, 1 when any differs (or run (b) crashed), 2 when run (a)
itself failed (the harness or its environment is broken). Scenario 2 (a finished region's message delivered
again) is reported, never compared. Then run (c), the fleet mid-move (``mixed_fleet_report``): its counts after
``pynamodb-tables reconcile`` must equal (b)'s (exit 1 otherwise).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
RUNS = (("upstream", "(a) model runner's tables"), ("package", "(b) pynamodb_tables"))
RUN_TIMEOUT = 300
Row = Tuple[str, Any, Any]


def run(tables: str, out_dir: Path) -> Tuple[Optional[Dict[str, Any]], Path, float]:
    """One run in its own process; its result (None if it crashed), its log and its wall time."""
    out, log = out_dir / f"{tables}.json", out_dir / f"{tables}.log"
    out.unlink(missing_ok=True)
    started = time.monotonic()
    with log.open("w") as stream:
        try:
            code = subprocess.run(
                [sys.executable, str(HERE / "run_image.py"), "--tables", tables, "--out", str(out)],
                stdout=stream,
                stderr=subprocess.STDOUT,
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


def short_region(region_id: str) -> str:
    return region_id.rsplit("-compat-job", 1)[0]


def main_phase_errors(result: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [e for e in result["errors"] if not e["phase"].startswith("redeliver")]


#: What is compared of each region.
REGION_FIELDS = ("status", "succeeded_tile_count", "failed_tile_count", "region_retry_count", "succeeded_tiles",
                 "failed_tiles")


def rows(result: Dict[str, Any]) -> Dict[str, Any]:
    """The compared values of one run, by name."""
    main = result["main"]
    values: Dict[str, Any] = {f"job.{k}": v for k, v in main["job"].items()}
    for region_id, region in main["regions"].items():
        name = f"region {short_region(region_id)} [{region['designed']}]"
        for field in (*REGION_FIELDS, "end_time_set"):
            label = f"len({field})" if field in ("succeeded_tiles", "failed_tiles") else field
            values[f"{name}.{label}"] = region[field]
    values["image status notifications"] = " > ".join(main["image_status_events"])
    values["region status notifications"] = main["region_status_events"]
    values["features in the S3 sink"] = main["features_in_sink"]
    values["model calls (ok/failed)"] = f"{main['model_calls']['succeeded']}/{main['model_calls']['failed']}"
    values["unexpected errors logged"] = len(main_phase_errors(result))
    return values


def table(rows_: List[Row], headers: Tuple[str, str, str], mark_diff: bool = True) -> Tuple[str, int]:
    width = max(len(r[0]) for r in [*rows_, headers]) + 2
    col = max(len(str(r[1])) for r in [*rows_, headers]) + 2
    lines = [f"{headers[0]:<{width}}{headers[1]:<{col}}{headers[2]}"]
    diffs = 0
    for name, a, b in rows_:
        differs = mark_diff and a != b
        diffs += differs
        lines.append(f"{name:<{width}}{a!s:<{col}}{b!s}{'   <-- DIFFERS' if differs else ''}")
    return "\n".join(lines), diffs


def describe_errors(errors: List[Dict[str, Any]], indent: str = "  ") -> str:
    """Each distinct error once, with its count, exception chain and the key frames."""
    groups: Dict[str, Tuple[int, Dict[str, Any]]] = {}
    for error in errors:
        key = error["message"] + "|" + "|".join(link["error"] for link in error["chain"])
        count, first = groups.get(key, (0, error))
        groups[key] = (count + 1, first)
    lines: List[str] = []
    for count, error in groups.values():
        lines.append(f"{indent}- [{error['phase']}] x{count} {error['source']}: {error['message'][:300]}")
        for link in error["chain"][:3]:
            lines.append(f"{indent}    {link['error'][:300]}")
            for frame in link["frames"][-3:]:
                lines.append(f"{indent}      at {frame[:220]}")
    return "\n".join(lines)


def redelivery_report(a: Dict[str, Any], b: Dict[str, Any]) -> str:
    lines: List[str] = []
    if len(a["redelivery"]) != len(b["redelivery"]):
        lines.append(
            f"regions redelivered: (a) {len(a['redelivery'])}, (b) {len(b['redelivery'])} "
            "(a run that queued no region has none to redeliver)"
        )
    for ra, rb in zip(a["redelivery"], b["redelivery"]):
        lines.append(f"\n-- redelivered: region {short_region(ra['region_id'])} (ended {ra['designed']}) --")
        pairs: List[Row] = []
        for run_key in ("region_count", "region_success", "region_error", "end_time_set"):
            pairs.append((f"job.{run_key}", ra["job"].get(run_key), rb["job"].get(run_key)))
        for field in REGION_FIELDS:
            pairs.append((f"region.{field}", (ra["region"] or {}).get(field), (rb["region"] or {}).get(field)))
        pairs.append(
            (
                "image status notifications",
                " > ".join(ra["image_status_events"]) or "-",
                " > ".join(rb["image_status_events"]) or "-",
            )
        )
        pairs.append(
            (
                "region status notifications",
                " > ".join(ra["region_status_events"]) or "-",
                " > ".join(rb["region_status_events"]) or "-",
            )
        )
        pairs.append(("unexpected errors logged", len(ra["errors"]), len(rb["errors"])))
        text, _ = table(pairs, ("", RUNS[0][1], RUNS[1][1]), mark_diff=False)
        lines.append(text)
        for label, errors in ((RUNS[0][1], ra["errors"]), (RUNS[1][1], rb["errors"])):
            if errors:
                lines.append(f"  errors in {label}:")
                lines.append(describe_errors(errors, indent="    "))
    return "\n".join(lines)


#: What the fleet mid-move must count as (b) does, once reconciled: the job's counts, each region's outcome and
#: tile counts (retries and tile lists differ: its old workers redo tiles and restart regions their own way).
MIXED_REGION_FIELDS = ("status", "succeeded_tile_count", "failed_tile_count")


def counts(result: Dict[str, Any], phase: str = "main") -> Dict[str, Any]:
    tables = result[phase]
    values = {f"job.{k}": tables["job"].get(k) for k in ("region_count", "region_success", "region_error",
                                                          "end_time_set")}
    for region_id, region in tables["regions"].items():
        for field in MIXED_REGION_FIELDS:
            values[f"region {short_region(region_id)} [{region['designed']}].{field}"] = region[field]
    return values


def mixed_fleet_report(b: Dict[str, Any], out_dir: Path) -> int:
    """Run (c), the fleet mid-move (``run_image.py --tables mixed``), and compare its counts after
    ``pynamodb-tables reconcile`` with (b)'s; the number of differences (a drift-free run (c) counts as one: it
    would not have shown reconcile anything)."""
    label = "(c) fleet mid-move, reconciled"
    c, log, seconds = run("mixed", out_dir)
    print(f"\n== the fleet mid-move: old and new workers on the same tables, then reconcile ==\n"
          f"{label}: {'done' if c else 'CRASHED'} in {seconds:.1f}s (log: {log})")
    if c is None:
        tail = [line for line in log.read_text().splitlines() if not line.startswith("{")][-25:]
        print("\n".join(f"    {line}" for line in tail))
        return 1
    if c.get("new_workers_tables") != "pynamodb_tables":
        print(f"run (c)'s new workers used {c.get('new_workers_tables')}, not pynamodb_tables")
        return 1
    before = counts(c, "before")
    print("drifts reconcile found and fixed:")
    for drift in c["drifts"]:
        where = "job" if drift["region_id"] is None else f"region {short_region(drift['region_id'])}"
        print(f"  {where}.{drift['attribute']}: {drift['stored']} -> {drift['recounted']}"
              f"{'' if drift['fixed'] else ' (NOT fixed)'}")
    vb, vc = counts(b), counts(c)
    compared: List[Row] = [(name, f"{vb.get(name, '(absent)')}", f"{before.get(name)} -> {vc.get(name, '(absent)')}")
                           for name in list(vb) + [n for n in vc if n not in vb]]
    text, _ = table(compared, ("", RUNS[1][1], f"{label} (before -> after)"), mark_diff=False)
    print(text)
    diffs = sum(vb.get(name) != vc.get(name) for name in set(vb) | set(vc))
    if not c["drifts"]:
        print("run (c) showed no drift: the scenario did not exercise reconcile")
        diffs += 1
    if c["errors"]:
        print(f"unexpected errors logged in {label} ({len(c['errors'])}):")
        print(describe_errors(c["errors"]))
        diffs += len(c["errors"])
    print(f"{label}: {'the same counts as (b)' if not diffs else f'{diffs} difference(s) from (b)'}")
    return diffs


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "pynamodb-tables-compat",
        help="where each run's result (JSON) and log go",
    )
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    results: Dict[str, Optional[Dict[str, Any]]] = {}
    for tables, label in RUNS:
        result, log, seconds = run(tables, args.out_dir)
        print(f"{label}: {'done' if result else 'CRASHED'} in {seconds:.1f}s (log: {log})")
        if result is None:
            print("  last lines of its log:")
            tail = [line for line in log.read_text().splitlines() if not line.startswith("{")][-25:]
            print("\n".join(f"    {line}" for line in tail))
        results[tables] = result
    a, b = results["upstream"], results["package"]
    if a is None:
        print("run (a) failed: the harness or its environment is broken, nothing to compare")
        return 2
    if a.get("tables_in_use") != "aws.osml.model_runner.database":
        print(f"run (a) used {a.get('tables_in_use')}, not the model runner's tables")
        return 2
    if b is None:
        print("\nRESULT: run (b) on pynamodb_tables crashed (see its log above)")
        return 1
    if b.get("tables_in_use") != "pynamodb_tables":
        print(f"run (b) used {b.get('tables_in_use')}, not pynamodb_tables: the shim did not take")
        return 2

    va, vb = rows(a), rows(b)
    compared: List[Row] = [
        (name, va.get(name, "(absent)"), vb.get(name, "(absent)")) for name in list(va) + [n for n in vb if n not in va]
    ]
    print("\n== one image (6 regions x 4 tiles, 5 tiles refused by the model) through osml-model-runner 2.3.0 ==")
    text, diffs = table(compared, ("", RUNS[0][1], RUNS[1][1]))
    print(text)
    for label, result in ((RUNS[0][1], a), (RUNS[1][1], b)):
        errors = main_phase_errors(result)
        if errors:
            print(f"\nunexpected errors logged in {label} ({len(errors)}):")
            print(describe_errors(errors))
    print(
        f"\n(expected errors: the model's refusals of tiles, logged by the model runner: "
        f"(a) {a['expected_model_errors']}, (b) {b['expected_model_errors']})"
    )

    print("\n== scenario 2: a finished region's message delivered again (reported, not compared) ==")
    print(redelivery_report(a, b))

    mixed_diffs = mixed_fleet_report(b, args.out_dir)
    if diffs:
        print(f"\nRESULT: {diffs} compared value(s) differ between (a) and (b)")
        return 1
    if mixed_diffs:
        print(f"\nRESULT: (a) and (b) identical, but the fleet mid-move after reconcile differs from (b) "
              f"({mixed_diffs} value(s))")
        return 1
    print("\nRESULT: identical: the model runner's workers end with the same tables on pynamodb_tables, and a "
          "fleet moved over halfway, once reconciled, counts as (b)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
