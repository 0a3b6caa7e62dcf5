"""The repair commands as an operator runs them (the installed script, in a subprocess) on DynamoDB Local:
``reconcile``, ``fail-stale``, ``end-job`` and ``map``, on items in the model runner's own forms, over
hundreds of jobs and several scan pages with ``--all``, and their refusals of bad input."""

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from tests.support import management as support
from tests.support.management import Tables, assert_one_line_error, cli, main
from tests.support.model_runner_items import OldWorker, n

tables = support.tables  # fixture

pytestmark = support.local

HOUR_MS = 3_600_000
T = [[[x, 0], [256, 256]] for x in (0, 256, 512, 768)]
SVG = "{http://www.w3.org/2000/svg}"


def create(tables: Tables) -> OldWorker:
    assert main(["create-tables", *tables.args()]) == 0
    return OldWorker(tables.endpoint, tables.job, tables.region)


def drifted_job(old: OldWorker, image_id: str = "img") -> None:
    """Three regions as the model runner's own code leaves them during a move: r-0 finished (counts set),
    r-1 finished and redelivered (counted twice), r-2 started an hour ago with tiles but no counts."""
    old.start_image(image_id, 3)
    old.process_region(image_id, "r-0", T[:3], [T[3]], "PARTIAL")
    old.process_region(image_id, "r-1", T, [], "SUCCESS")
    old.count_region(image_id, error=False)
    old.start_region(image_id, "r-2", start=old.now() - HOUR_MS)
    old.add_tile(image_id, "r-2", T[0], "succeeded")


def raw_items(tables: Tables) -> List[Dict[str, Any]]:
    return [item for name in (tables.job, tables.region)
            for item in tables.client.scan(TableName=name, ConsistentRead=True)["Items"]]


def test_reconcile_dry_run_then_fix(tables: Tables) -> None:
    drifted_job(create(tables))
    before = raw_items(tables)
    dry = tables.run("reconcile", "img", "--dry-run")
    assert dry.returncode == 1
    assert_one_line_error(dry, "2 drift(s) found; nothing written (--dry-run)")
    assert "r-2     succeeded_tile_count       0          1  no" in dry.stdout
    assert "(job)   region_success             2          1  no" in dry.stdout
    assert "dry run: nothing written" in dry.stdout and "read units" in dry.stdout
    as_json = tables.run("reconcile", "img", "--dry-run", "--json")
    drifts = json.loads(as_json.stdout)
    assert all(set(d) == {"image_id", "region_id", "attribute", "stored", "recounted", "fixed"} for d in drifts)
    assert {(d["region_id"], d["attribute"], d["stored"], d["recounted"]) for d in drifts} == {
        ("r-2", "succeeded_tile_count", 0, 1), (None, "region_success", 2, 1)}
    assert raw_items(tables) == before, "a dry run writes nothing"

    fixed = tables.run("reconcile", "img", "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert {d["fixed"] for d in json.loads(fixed.stdout)} == {True} and len(json.loads(fixed.stdout)) == 2
    again = tables.run("reconcile", "img")
    assert again.returncode == 0 and "0 drift(s) found, 0 fixed; the tables agree" in again.stdout


def test_fail_stale_lists_then_fails_with_yes(tables: Tables) -> None:
    drifted_job(create(tables))
    listed = tables.run("fail-stale", "img", "--older-than", "600")
    assert listed.returncode == 1
    assert_one_line_error(listed, "1 stale region(s) not failed without --yes")
    assert "r-2" in listed.stdout and "would-fail" in listed.stdout
    assert OldWorker(tables.endpoint, tables.job, tables.region).get_region("img", "r-2")["region_status"] == {
        "S": "STARTED"}
    failed = tables.run("fail-stale", "img", "--older-than", "600", "--yes", "--json")
    assert failed.returncode == 0, failed.stderr
    (row,) = json.loads(failed.stdout)
    assert set(row) == {"image_id", "region_id", "region_status", "last_activity_time", "seconds_since_activity",
                        "result"}
    assert (row["region_id"], row["result"], row["region_status"]) == ("r-2", "failed", "STARTED")
    assert row["seconds_since_activity"] >= 3600
    nothing = tables.run("fail-stale", "img", "--older-than", "600")
    assert nothing.returncode == 0 and "0 stale region(s)" in nothing.stdout


def test_end_job_refuses_while_regions_run_then_force_then_once(tables: Tables) -> None:
    drifted_job(create(tables))
    refused = tables.run("end-job", "img")
    assert_one_line_error(refused, "1 region(s) still running: r-2", "--force")
    assert refused.returncode == 1
    ended = tables.run("end-job", "img", "--force", "--json")
    assert ended.returncode == 0, ended.stderr
    body = json.loads(ended.stdout)
    assert body["forced"] is True and body["running"] == ["r-2"] and isinstance(body["end_time"], int)
    again = tables.run("end-job", "img", "--force")
    assert again.returncode == 1
    assert_one_line_error(again, "already ended")
    assert int(tables.client.get_item(TableName=tables.job, Key={"image_id": {"S": "img"}})["Item"]["end_time"]["N"]) \
        == body["end_time"]


def test_map_writes_an_svg_with_each_region_titled(tables: Tables, tmp_path: Path) -> None:
    old = create(tables)
    drifted_job(old)
    out = tmp_path / "img.svg"
    result = tables.run("map", "img", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    root = ET.parse(out).getroot()
    regions = [g for g in root.iter(f"{SVG}g") if g.get("class") == "region"]
    assert [(g.get("data-region-id"), g.get("data-status")) for g in regions] == [
        ("r-0", "PARTIAL"), ("r-1", "SUCCESS"), ("r-2", "STARTED")]
    assert all(g.find(f"{SVG}title").text.startswith(g.get("data-region-id") + ": ") for g in regions)
    assert len([r for r in root.iter(f"{SVG}rect") if r.get("class") == "failed-tile"]) == 1
    caption = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "3 region(s): 1 SUCCESS, 1 PARTIAL, 0 FAILED, 1 running" in caption
    as_json = json.loads(tables.run("map", "img", "--out", str(out), "--json").stdout)
    assert as_json["regions_by_status"] == {"PARTIAL": 1, "SUCCESS": 1, "STARTED": 1} and as_json["out"] == str(out)


@pytest.mark.parametrize("command", [["reconcile", "nope"], ["fail-stale", "nope", "--older-than", "1"],
                                     ["end-job", "nope"], ["map", "nope", "--out", "OUT"]])
def test_an_unknown_image_is_one_line_and_exit_1_with_nothing_written(
        tables: Tables, capsys: pytest.CaptureFixture[str], tmp_path: Path, command: List[str]) -> None:
    create(tables)
    args = [str(tmp_path / "nope.svg") if arg == "OUT" else arg for arg in command]
    result = tables.cli(capsys, *args)
    assert result.returncode == 1
    assert_one_line_error(result, "unknown image 'nope'")
    assert raw_items(tables) == [] and not (tmp_path / "nope.svg").exists()


@pytest.mark.parametrize("command, fragment", [
    (["fail-stale", "img", "--older-than", "-5"], "expected a number of seconds >= 0, got '-5'"),
    (["fail-stale", "img", "--older-than", "soon"], "expected a number of seconds >= 0, got 'soon'"),
    (["fail-stale", "img"], "--older-than"),
    (["fail-stale", "img", "--all", "--older-than", "5", "--yes"], "not both"),
    (["reconcile", "img", "--all"], "give IMAGE_ID... or --all, not both"),
    (["reconcile"], "give IMAGE_ID... or --all"),
    (["map", "img"], "--out"),
])
def test_bad_usage_exits_2_and_writes_nothing(tables: Tables, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             command: List[str], fragment: str) -> None:
    drifted_job(create(tables))
    before = raw_items(tables)
    result = cli(capsys, *command, *tables.args())
    assert result.returncode == 2
    assert_one_line_error(result, fragment)
    assert raw_items(tables) == before


def test_bad_usage_as_an_operator_sees_it(tables: Tables) -> None:
    result = tables.run("reconcile", "img", "--all")
    assert result.returncode == 2 and result.stderr.startswith("pynamodb-tables: error: give IMAGE_ID")


# -- --all: hundreds of jobs, several scan pages ---------------------------------------------------

JOBS = 200
PADDING = "x" * 12000  # ~12 KB a job: the scan needs several 1 MB pages


class Fleet:
    """JOBS jobs; every 10th drifted (its region_success one too high), every 15th with a stale region."""

    def __init__(self, tables: Tables) -> None:
        self.tables, now = tables, int(time.time() * 1000)
        jobs, regions = [], []
        for i in range(JOBS):
            image_id = f"img-{i:03d}"
            jobs.append({"image_id": {"S": image_id}, "job_id": {"S": f"job-{i}"}, "start_time": n(now),
                         "region_count": n(2), "region_success": n(1 + (i % 10 == 0)), "region_error": n(0),
                         "outputs": {"S": PADDING}})
            regions.append({"image_id": {"S": image_id}, "region_id": {"S": "r-0"}, "region_status": {"S": "SUCCESS"},
                            "start_time": n(now), "end_time": n(now), "succeeded_tile_count": n(0),
                            "failed_tile_count": n(0)})
            stale = i % 15 == 0
            regions.append({"image_id": {"S": image_id}, "region_id": {"S": "r-1"}, "region_status": {"S": "STARTED"},
                            "start_time": n(now - HOUR_MS if stale else now), "succeeded_tile_count": n(0),
                            "failed_tile_count": n(0)})
        support.write_items(tables.client, tables.job, jobs)
        support.write_items(tables.client, tables.region, regions)

    def scan_pages(self) -> int:
        return len(list(self.tables.client.get_paginator("scan").paginate(TableName=self.tables.job)))


@pytest.fixture
def fleet(tables: Tables) -> Iterator[Fleet]:
    create(tables)
    yield Fleet(tables)


def units(stdout: str) -> List[float]:
    line = next(line for line in stdout.splitlines() if line.startswith("spent "))
    words = line.split()
    return [float(words[1]), float(words[7])]


def test_all_jobs_over_several_scan_pages(fleet: Fleet) -> None:
    assert fleet.scan_pages() >= 3  # what this test is about
    dry = fleet.tables.run("reconcile", "--all", "--dry-run")
    assert dry.returncode == 1
    assert f"{JOBS} job(s) recounted: {JOBS // 10} drift(s) found; dry run: nothing written" in dry.stdout
    read_units, write_units = units(dry.stdout)
    assert read_units > JOBS and write_units == 0  # a read of each job and a query of its regions, and the scan
    fixed = fleet.tables.run("reconcile", "--all", "--json")
    assert fixed.returncode == 0, fixed.stderr
    drifts = json.loads(fixed.stdout)
    assert sorted(d["image_id"] for d in drifts) == [f"img-{i:03d}" for i in range(0, JOBS, 10)]
    assert all((d["attribute"], d["stored"], d["recounted"], d["fixed"]) == ("region_success", 2, 1, True)
               for d in drifts)

    stale = fleet.tables.run("fail-stale", "--all", "--older-than", "1800", "--yes")
    assert stale.returncode == 0, stale.stderr
    expected = len(range(0, JOBS, 15))
    assert f"{JOBS} job(s) checked: {expected} stale region(s) (no outcome, no write for 1800s): {expected} " \
           "completed FAILED" in stale.stdout
    read_units, write_units = units(stale.stdout)
    assert read_units > JOBS and write_units >= 2 * expected  # a transaction writes the region and the job
    assert fleet.tables.run("reconcile", "--all", "--dry-run").returncode == 0
