"""The crash table of ``./dev compat``: the model runner's workers killed right after one of their database calls
on a region, the region's message then delivered again to a fresh worker, on its own tables and on this package's
(plain and buffered), each case judged on the final tables.

    python compat/crash_cases.py worker SPEC.json     (one worker process, as ``crash_table`` starts it)

One case is three worker processes of osml-model-runner 2.3.0, unchanged, on one set of tables in DynamoDB Local
(each process has its own moto for S3, SQS and SNS; the model is ``compare.py``'s ``FakeModel``, shared). The image
has 4 regions of 16 tiles; the model refuses 4 tiles of region 1 (PARTIAL), so the truth is 3 regions counted
successes and 1 an error. (1) An image worker starts the job, splits the image and processes every region but
those the case holds back. (2) A region worker takes the case's target region and dies (``os._exit``: no
``finally``, no atexit, buffered tiles lost) right after the named call returns. (3) A fresh worker gets the
target's message again, then any region held back after it, and the image ends.

A case is *exact* when the job's ``region_success`` / ``region_error`` equal the regions' latest outcomes and every
region's tile counts equal its lists; *whole* when also every region's status is what its tiles say, every tile is
listed once, and the image ended exactly once (one ``end_image_request`` that landed), every region having an
outcome when it was asked. How many times the image's features were written to the sink is reported beside.
"""

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

FLUSH_ENV = "DDB_TILE_FLUSH_SECONDS"
KILLED = 17  # the exit status of a worker that died where its case says
WORKER_TIMEOUT = 180
SIZE = (242, 242)  # 4 regions (2 x 2) of 16 tiles (4 x 4) with these sizes
REGION_SIZE = (122, 122)
PARTIAL = 1  # the region of which the model refuses every 4th tile
TERMINAL = ("SUCCESS", "PARTIAL", "FAILED")


@dataclass(frozen=True)
class Case:
    name: str  # its row in the table
    kill_after: Optional[str]  # the call after which the target's first worker dies; None: it does not
    nth: int = 1  # ... after its nth call of it
    target: int = 3  # the region that dies; 3 is the last one processed (it completes the image)
    held: Tuple[int, ...] = (3,)  # regions the image worker leaves: the target and those processed after it
    fail_update: bool = False  # the target's first update_region_request raises (the handler's failure path)
    image_again: bool = False  # the image worker gets the image message again once its regions are done


CASES = (
    Case("start_region_request", "start_region_request"),
    Case("half the add_tile calls", "add_tile", nth=8),
    Case("update_region_request", "update_region_request"),
    Case("JobTable.complete_region_request", "job.complete_region_request"),
    Case("RegionRequestTable.complete_region_request", "region.complete_region_request"),
    Case("the failure path, between its two calls", "region.complete_region_request", fail_update=True),
    Case("(no crash) a PARTIAL region delivered twice", None, target=PARTIAL, held=()),
    Case("the job call, the target not last", "job.complete_region_request", target=2, held=(2, 3)),
    Case("the region completion, the target not last", "region.complete_region_request", target=2, held=(2, 3)),
    Case("(no crash) the image message delivered twice", None, image_again=True),
)


@dataclass(frozen=True)
class Flavor:
    name: str
    short: str  # its column's header
    tables: str  # "upstream" (the model runner's own) or "package"
    env: Dict[str, str] = field(default_factory=dict)


FLAVORS = (
    Flavor("own", "its own tables", "upstream"),
    Flavor("plain", "pynamodb_tables", "package"),
    Flavor("buffered", f"buffered ({FLUSH_ENV}=5)", "package", {FLUSH_ENV: "5"}),
)


# -- one worker process ------------------------------------------------------------------------------------


def arm(spec: Dict[str, Any], harness: Any, seen: Dict[str, Any]) -> None:
    """Wraps the table classes the model runner imports so that the worker dies right after the spec's call (its
    ``nth``), and (``fail_update``) its first ``update_region_request`` raises before anything is sent; and
    notes in ``seen`` each ending of the image asked (whether it landed, and the regions without an outcome as it
    was asked): the model runner asks it right after writing the image's features to the sink."""
    from aws.osml.model_runner.database.job_table import JobTable
    from aws.osml.model_runner.database.region_request_table import RegionRequestTable

    calls = {
        "start_region_request": (RegionRequestTable, "start_region_request"),
        "add_tile": (RegionRequestTable, "add_tile"),
        "update_region_request": (RegionRequestTable, "update_region_request"),
        "region.complete_region_request": (RegionRequestTable, "complete_region_request"),
        "job.complete_region_request": (JobTable, "complete_region_request"),
    }
    lock = threading.Lock()
    seen.update(calls=0, updates=0, ends=[])
    end = JobTable.end_image_request

    def ending(table: Any, image_id: str, *args: Any, **kwargs: Any) -> Any:
        _, regions = harness.stored(image_id)
        record = {"landed": False, "without_outcome": sum(r.get("region_status") not in TERMINAL for r in regions)}
        seen["ends"].append(record)
        answer = end(table, image_id, *args, **kwargs)
        record["landed"] = True
        return answer

    JobTable.end_image_request = ending  # type: ignore[method-assign]
    if spec.get("kill_after"):
        cls, name = calls[spec["kill_after"]]
        original = getattr(cls, name)

        def dying(*args: Any, **kwargs: Any) -> Any:
            answer = original(*args, **kwargs)
            with lock:
                seen["calls"] += 1
                if seen["calls"] == spec["nth"]:
                    sys.stderr.write(f"[crash case] dying after {spec['kill_after']} #{spec['nth']}\n")
                    sys.stderr.flush()
                    os._exit(KILLED)
            return answer

        setattr(cls, name, dying)
    if spec.get("fail_update"):
        update = RegionRequestTable.update_region_request

        def failing(*args: Any, **kwargs: Any) -> Any:
            with lock:
                seen["updates"] += 1
                first = seen["updates"] == 1
            if first:
                raise RuntimeError("injected: update_region_request failed")
            return update(*args, **kwargs)

        RegionRequestTable.update_region_request = failing  # type: ignore[method-assign]


def worker(spec: Dict[str, Any]) -> Dict[str, Any]:
    """One worker process: the image worker (``role`` "image") or a region worker (the spec's ``messages``)."""
    import run_image as harness  # the harness's helpers; imports gdal and moto

    names = harness.table_names(spec["name"])
    report: Dict[str, Any] = {}
    with harness.aws_but_dynamodb(spec["endpoint"]):
        env = harness.create_aws(spec["tables"], names, create_tables=spec["role"] == "image")
        env["REGION_SIZE"] = str(REGION_SIZE)
        os.environ.update(env)
        if spec["tables"] == "package":
            import shim

            shim.install()
            if spec["role"] == "image":
                harness.create_package_tables(names)
        from aws.osml.model_runner.api import ImageRequest
        from aws.osml.model_runner.model_runner import ModelRunner
        from aws.osml.model_runner.tile_worker import VariableOverlapTilingStrategy

        seen: Dict[str, Any] = {}
        arm(spec, harness, seen)
        runner = ModelRunner()
        runner.region_request_queue.wait_seconds = 0
        if spec["role"] == "image":
            report.update(image_worker(spec, runner, harness, ImageRequest, VariableOverlapTilingStrategy()))
        else:
            for message in spec["messages"]:
                runner.region_request_queue.send_request(message)
                runner._process_region_requests()
            job, regions = harness.stored(spec["image_id"])
            report.update(job=job, regions=regions)
        report["ends"] = seen["ends"]
    return report


def image_worker(spec: Dict[str, Any], runner: Any, harness: Any, image_request: Any, tiling: Any) -> Dict[str, Any]:
    """Makes the image, starts the job, processes every region the case does not hold; returns the image's id,
    each region's index by its bounds, each region's tiles and every region message, by region index."""
    tile_size, overlap = (harness.TILE_SIZE,) * 2, (harness.TILE_OVERLAP,) * 2
    regions = tiling.compute_regions(((0, 0), SIZE), REGION_SIZE, tile_size, overlap)
    tiles = {harness.bounds_key(r): tiling.compute_tiles(r, tile_size, overlap) for r in regions}
    index = {harness.bounds_key(r): i for i, r in enumerate(regions)}
    path = Path(spec["workdir"]) / "image.tif"
    harness.make_image(path, regions, lambda r: tiling.compute_tiles(r, tile_size, overlap), size=SIZE,
                                  refused=tiles[harness.bounds_key(regions[PARTIAL])][3::4])
    messages: Dict[int, Dict[str, Any]] = {}
    send = runner.region_request_queue.send_request

    def holding_send(request: Dict[str, Any]) -> None:
        message = json.loads(json.dumps(request))
        messages[index[harness.bounds_key(message["region_bounds"])]] = message
        if index[harness.bounds_key(message["region_bounds"])] not in spec["held"]:
            send(request)

    runner.region_request_queue.send_request = holding_send
    request = image_request.from_external_message(harness.image_message(path, spec["model_url"]))
    runner.image_request_handler.process_image_request(request)
    while runner._process_region_requests():
        pass
    again_failed = None
    if spec.get("image_again"):  # (a queue's redelivery, as v3's scheduler starts an image again: issue 27)
        again = image_request.from_external_message(harness.image_message(path, spec["model_url"]))
        try:
            runner.image_request_handler.process_image_request(again)
        except Exception as exc:  # (the model runner's own failure path ran: it fails the image)
            again_failed = f"{type(exc).__name__}: {exc}"
            sys.stderr.write(f"[crash case] the image message again: {again_failed}\n")
        while runner._process_region_requests():
            pass
    return {
        "image_id": request.image_id,
        "messages": {str(i): m for i, m in messages.items()},
        "again_failed": again_failed,
        "index": index,
        "tiles": {str(index[k]): sorted(harness.bounds_key(t) for t in ts) for k, ts in tiles.items()},
    }


# -- a case: its three workers, then the verdict ----------------------------------------------------------------


def start_worker(spec: Dict[str, Any], out_dir: Path, env: Dict[str, str]) -> Tuple[int, Optional[Dict[str, Any]]]:
    """One worker process for ``spec``; its exit status and report (None if it wrote none)."""
    base = out_dir / f"{spec['name']}-{spec['step']}"
    spec_file, report_file = base.with_suffix(".spec.json"), base.with_suffix(".json")
    spec_file.write_text(json.dumps(spec))
    report_file.unlink(missing_ok=True)
    with base.with_suffix(".log").open("w") as log:
        try:
            code = subprocess.run([sys.executable, __file__, "worker", str(spec_file), str(report_file)],
                                  stdout=log, stderr=subprocess.STDOUT, env=env, timeout=WORKER_TIMEOUT,
                                  check=False).returncode
        except subprocess.TimeoutExpired:
            code = -1
    return code, json.loads(report_file.read_text()) if report_file.exists() else None


def run_case(case: Case, flavor: Flavor, out_dir: Path, endpoint: str, model_url: str) -> Dict[str, Any]:
    """The case's three workers on tables of its own; what the tables hold at the end, judged."""
    name = f"crash-{flavor.name}-{CASES.index(case)}"
    env = {k: v for k, v in os.environ.items() if k != FLUSH_ENV and not k.startswith("AWS_ENDPOINT_URL")}
    env.update(flavor.env)
    workdir = out_dir / name
    workdir.mkdir(exist_ok=True)
    base = {"name": name, "endpoint": endpoint, "tables": flavor.tables, "model_url": model_url,
            "workdir": str(workdir)}
    code, first = start_worker({**base, "step": "1-image", "role": "image", "held": list(case.held),
                                "image_again": case.image_again}, out_dir, env)
    if code != 0 or first is None:
        return {"broken": f"the image worker exited {code} (log: {out_dir / name}-1-image.log)"}
    target = first["messages"][str(case.target)]
    region = {**base, "role": "region", "image_id": first["image_id"]}
    reports = [first]
    if case.kill_after:
        code, _ = start_worker({**region, "step": "2-dies", "messages": [target], "kill_after": case.kill_after,
                                "nth": case.nth, "fail_update": case.fail_update}, out_dir, env)
        if code != KILLED:
            return {"broken": f"the worker meant to die after {case.kill_after} exited {code}"}
    later = [first["messages"][str(i)] for i in case.held if i != case.target]
    code, last = start_worker({**region, "step": "3-again", "messages": [target, *later]}, out_dir, env)
    if code != 0 or last is None:
        return {"broken": f"the fresh worker exited {code} (log: {out_dir / name}-3-again.log)"}
    reports.append(last)
    return judge(first, last, [end for r in reports for end in r["ends"]])


def judge(first: Dict[str, Any], last: Dict[str, Any], ends: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The verdict on the final tables: "whole", "exact" or "not exact", with what is wrong."""
    from run_image import bounds_key

    job, regions = last["job"] or {}, last["regions"]
    by_index = {first["index"][bounds_key(r["region_bounds"])]: r for r in regions}
    faults: List[str] = []
    exact_faults: List[str] = []
    outcomes = [r.get("region_status") for r in regions]
    success = outcomes.count("SUCCESS")
    error = outcomes.count("FAILED") + outcomes.count("PARTIAL")
    counted = (job.get("region_success"), job.get("region_error"))
    if counted != (success, error):
        exact_faults.append(f"job counts {counted[0]}+{counted[1]}, its regions' outcomes {success}+{error}")
    for position, region in sorted(by_index.items()):
        tiles = set(first["tiles"][str(position)])
        lists = [[bounds_key(t) for t in region.get(n) or []] for n in ("succeeded_tiles", "failed_tiles")]
        stored_counts = (region.get("succeeded_tile_count"), region.get("failed_tile_count"))
        if stored_counts != (len(lists[0]), len(lists[1])):
            exact_faults.append(f"region {position}: counts {stored_counts[0]}+{stored_counts[1]}, "
                                f"lists {len(lists[0])}+{len(lists[1])}")
        listed = lists[0] + lists[1]
        if len(set(listed)) < len(listed):
            faults.append(f"region {position}: {len(listed) - len(set(listed))} tile(s) listed twice")
        missing = tiles - set(listed)
        if missing:
            faults.append(f"region {position}: {len(missing)} of its {len(tiles)} tiles in no list")
        said = "FAILED" if not lists[0] else "PARTIAL" if lists[1] else "SUCCESS"
        if region.get("region_status") != said and not missing:
            faults.append(f"region {position}: {region.get('region_status')}, its tiles say {said} "
                          f"({len(set(lists[0]))}+{len(set(lists[1]))})")
        elif missing and region.get("region_status") in TERMINAL:
            faults.append(f"region {position}: {region.get('region_status')} with tiles missing")
        if region.get("region_status") not in TERMINAL:
            faults.append(f"region {position}: no outcome ({region.get('region_status')})")
    if first.get("again_failed"):
        faults.append(f"the image message delivered again failed the image ({first['again_failed'][:80]})")
    landed = [end for end in ends if end["landed"]]
    if not landed:
        faults.append("the image never ended")
    elif len(landed) > 1:
        faults.append(f"the image ended {len(landed)} times")
    early = [end["without_outcome"] for end in landed if end["without_outcome"]]
    if early:
        faults.append(f"the image ended with {early[0]} region(s) without an outcome")
    verdict = "whole" if not exact_faults and not faults else "exact" if not exact_faults else "not exact"
    return {"verdict": verdict, "counts": f"{counted[0]}+{counted[1]}", "faults": exact_faults + faults,
            "sink_writes": len(ends)}


def crash_table(out_dir: Path, endpoint: str, model_url: str,
                say: Callable[[str], None] = print) -> int:
    """Every case on every flavor (two at a time), printed as a table; the number of package cases not whole
    (or broken)."""
    jobs = [(case, flavor) for case in CASES for flavor in FLAVORS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda cf: run_case(cf[0], cf[1], out_dir, endpoint, model_url), jobs))
    cells = {(c.name, f.name): r for (c, f), r in zip(jobs, results)}
    (out_dir / "crash-table.json").write_text(json.dumps(
        [{"case": asdict(c), "flavor": f.name, **r} for (c, f), r in zip(jobs, results)], indent=2))
    width = max(len(c.name) for c in CASES) + 2
    cell = max(len(f.short) for f in FLAVORS) + 2
    say("".join([f"{'the worker dies after':<{width}}", *(f"{f.short:<{cell}}" for f in FLAVORS)]))
    not_whole = 0
    details: List[str] = []
    for case in CASES:
        line = f"{case.name:<{width}}"
        for flavor in FLAVORS:
            result = cells[(case.name, flavor.name)]
            if "broken" in result:
                text = "BROKEN"
                details.append(f"  {case.name} / {flavor.short}: {result['broken']}")
            else:
                text = f"{result['verdict']} {result['counts']}"
                if result["sink_writes"] > 1:
                    text += f", features sunk {result['sink_writes']}x"
                if result["faults"]:
                    details.append(f"  {case.name} / {flavor.short}: " + "; ".join(result["faults"]))
            if flavor.tables == "package" and result.get("verdict") != "whole":
                not_whole += 1
            line += f"{text:<{cell}}"
        say(line)
    tally = {f.name: sum(cells[(c.name, f.name)].get("verdict") == "whole" for c in CASES) for f in FLAVORS}
    say("whole: " + ", ".join(f"{f.short} {tally[f.name]} of {len(CASES)}" for f in FLAVORS))
    if details:
        say("what is wrong where a case is not whole:")
        for line in details:
            say(line)
    return not_whole


def main(argv: List[str]) -> int:
    if len(argv) == 3 and argv[0] == "worker":
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        report = worker(json.loads(Path(argv[1]).read_text()))
        Path(argv[2]).write_text(json.dumps(report, default=str))
        return 0
    print(__doc__.splitlines()[2].strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
