"""list-jobs across hundreds of jobs and several scan pages, and export, on DynamoDB Local."""

import json
import random
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional

import pytest

from pynamodb_tables.management.jobs import JSON_KEYS, plain_item
from tests.support import management as support
from tests.support.management import (
    Tables,
    assert_one_line_error,
    cli,
    local,
    main,
    make_job,
    watch_until_finished,
)

tables = support.tables  # fixture

pytestmark = local

JOBS = 360
PADDING = "x" * 7000  # ~7 KB a job: the scan needs several 1 MB pages
HOUR_MS = 3_600_000


def write(tables: Tables, name: str, items: List[Dict[str, Any]]) -> None:
    support.write_items(tables.client, name, items)


def n(value: int) -> Dict[str, str]:
    return {"N": str(value)}


class Fleet:
    """JOBS jobs in shuffled start order, a third each running, complete and ended; every 7th has
    regions: one finished, one fresh, one stale, and (every 14th) a second stale one."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        now = int(time.time() * 1000)
        order = list(range(JOBS))
        random.Random(11).shuffle(order)
        self.expected: Dict[str, Dict[str, Any]] = {}
        jobs, regions = [], []
        for i in range(JOBS):
            image_id, start = f"img-{i:03d}", now - 2 * HOUR_MS + order[i] * 1000
            state = ("ended", "complete", "running")[i % 3]
            success = 4 if state != "running" else 1
            end = start + 60_000 if state == "ended" else None
            stale = (1 + (i % 14 == 0)) if i % 7 == 0 else 0
            self.expected[image_id] = {"image_id": image_id, "job_id": f"job-{i}", "state": state,
                                       "region_count": 5, "region_success": success, "region_error": 1,
                                       "start_time": start, "end_time": end, "stale_regions": stale}
            job = {"image_id": {"S": image_id}, "job_id": {"S": f"job-{i}"}, "start_time": n(start),
                   "region_count": n(5), "region_success": n(success), "region_error": n(1),
                   "outputs": {"S": PADDING}}
            if end is not None:
                job.update(end_time=n(end), processing_duration=n(60))
            jobs.append(job)
            if i % 7 == 0:
                updates = [("SUCCESS", now - HOUR_MS), ("STARTED", now), ("STARTED", now - HOUR_MS)]
                updates += [("IN_PROGRESS", now - HOUR_MS)] if i % 14 == 0 else []
                regions += [{"image_id": {"S": image_id}, "region_id": {"S": f"r-{k}"}, "region_status": {"S": status},
                             "last_updated_time": n(updated)} for k, (status, updated) in enumerate(updates)]
        write(tables, tables.job, jobs)
        write(tables, tables.region, regions)

    def newest_first(self, state: Optional[str] = None) -> List[Dict[str, Any]]:
        rows = [row for row in self.expected.values() if state is None or row["state"] == state]
        return sorted(rows, key=lambda row: -row["start_time"])

    def scan_pages(self) -> List[Dict[str, Any]]:
        """The job table's scan pages, read independently of the script."""
        paginator = self.tables.client.get_paginator("scan")
        return list(paginator.paginate(TableName=self.tables.job, ReturnConsumedCapacity="TOTAL"))


@pytest.fixture(scope="module")
def fleet(dynamodb_local: Any) -> Iterator[Fleet]:
    pair = Tables(dynamodb_local.endpoint)
    with pytest.MonkeyPatch.context() as env:  # (the suite's fake credentials are set per test)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        assert main(["create-tables", "--region", "us-east-1", *pair.args()]) == 0
    yield Fleet(pair)
    pair.cleanup()


def test_list_jobs_json_every_job_once_newest_first_across_scan_pages(
        fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(fleet.scan_pages()) >= 3  # what this test is about: a scan of several pages

    result = fleet.tables.cli(capsys, "list-jobs", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert all(tuple(sorted(row)) == tuple(sorted(JSON_KEYS)) for row in listed)
    assert listed == fleet.newest_first()
    assert sum(row["stale_regions"] for row in listed) == sum(2 if i % 14 == 0 else 1 for i in range(0, JOBS, 7))


@pytest.mark.parametrize("state", ["running", "complete", "ended"])
def test_list_jobs_state(fleet: Fleet, state: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = fleet.tables.cli(capsys, "list-jobs", "--state", state, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == fleet.newest_first(state)

    text = fleet.tables.cli(capsys, "list-jobs", "--state", state).stdout
    assert f"; {JOBS // 3} listed (--state {state})" in text
    assert f", {JOBS // 3} region queries (" in text


def test_list_jobs_text_with_counts_stale_jobs_and_read_units(fleet: Fleet) -> None:
    result = fleet.tables.run("list-jobs")  # as an operator runs it
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "JOB", "STATE", "DONE", "OK", "ERRORS", "STALE", "STARTED", "DURATION"]
    rows = [line.split() for line in lines[1:JOBS + 1]]
    assert [row[0] for row in rows] == [job["image_id"] for job in fleet.newest_first()]
    first = fleet.newest_first()[0]
    assert rows[0][1:7] == [first["job_id"], first["state"], f"{first['region_success'] + 1}/5",
                            str(first["region_success"]), "1", str(first["stale_regions"])]
    summary, stale, cost = lines[JOBS + 1:]
    assert summary == f"{JOBS} job(s) in table {fleet.tables.job}: 120 running, 120 complete, 120 ended; {JOBS} listed"
    assert stale == f"{len(range(0, JOBS, 7))} job(s) with stale regions: no outcome and no update for 300s"

    pages = fleet.scan_pages()
    scan_units = sum(page["ConsumedCapacity"]["CapacityUnits"] for page in pages)
    assert f"{len(pages)} page(s) of the job table ({scan_units:g})" in cost
    assert f", {JOBS} region queries (" in cost
    total = float(cost.split()[1])
    assert total > scan_units > 0


def test_list_jobs_stale_after(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    never = json.loads(fleet.tables.cli(capsys, "list-jobs", "--json", "--stale-after", "7200").stdout)
    assert not any(row["stale_regions"] for row in never)
    always = json.loads(fleet.tables.cli(capsys, "list-jobs", "--json", "--stale-after", "0").stdout)
    assert {row["image_id"]: row["stale_regions"] for row in always if row["stale_regions"]} == {
        f"img-{i:03d}": 3 if i % 14 == 0 else 2 for i in range(0, JOBS, 7)}  # every region without an outcome


def test_list_jobs_of_an_empty_table(tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    assert tables.cli(capsys, "create-tables").returncode == 0
    assert json.loads(tables.cli(capsys, "list-jobs", "--json").stdout) == []
    text = tables.cli(capsys, "list-jobs").stdout.splitlines()
    assert text[0] == f"0 job(s) in table {tables.job}: 0 running, 0 complete, 0 ended; 0 listed"
    assert_one_line_error(cli(capsys, "list-jobs", "--job-table", "jobs", "--region-table", "regions",
                              "--state", "stuck"), "invalid choice: 'stuck'")


@pytest.mark.full
def test_list_jobs_watch_until_every_listed_job_has_ended(tables: Tables) -> None:
    make_job(tables)
    first, last = watch_until_finished(tables, "list-jobs")
    assert [(row["image_id"], row["state"], row["stale_regions"]) for row in first] == [("img", "running", 1)]
    assert [(row["state"], row["stale_regions"], row["region_success"]) for row in last] == [("ended", 0, 2)]


# --- export ---------------------------------------------------------------------------------------

def test_export_the_job_then_every_region_as_json_lines(tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    make_job(tables)
    result = tables.run("export", "img")  # as an operator runs it
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    job, *regions = lines
    stored_job = tables.client.get_item(TableName=tables.job, Key={"image_id": {"S": "img"}})["Item"]
    assert set(job) == set(stored_job)  # every attribute
    assert (job["image_id"], job["job_id"], job["region_count"], job["region_success"]) == ("img", "job-7", 3, 1)
    assert isinstance(job["start_time"], int) and isinstance(job["expire_time"], int)
    status = json.loads(tables.cli(capsys, "status", "img", "--json").stdout)
    assert job["start_time"] == status["job"]["start_time"]

    assert [r["region_id"] for r in regions] == ["r-0", "r-1", "r-2"]
    assert all(r["image_id"] == "img" and "region_status" in r for r in regions)
    assert regions[0]["succeeded_tiles"] == [[[0, 0], [8, 8]], [[8, 0], [8, 8]]]
    assert (regions[0]["region_status"], regions[0]["succeeded_tile_count"]) == ("SUCCESS", 2)
    assert (regions[1]["failed_tiles"], regions[1]["failed_tile_count"]) == ([[[8, 0], [8, 8]]], 1)
    assert regions[2]["last_updated_time"] == status["regions"][2]["last_updated_time"]

    assert_one_line_error(tables.cli(capsys, "export", "nope"), "unknown image 'nope'", tables.job)
    assert tables.cli(capsys, "export", "nope").stdout == ""


def test_export_regions_over_several_query_pages(tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    assert tables.cli(capsys, "create-tables").returncode == 0
    image_id = f"big-{uuid.uuid4().hex[:6]}"
    write(tables, tables.job, [{"image_id": {"S": image_id}, "region_count": n(12)}])
    tiles = {"L": [{"L": [{"L": [n(x), n(0)]}, {"L": [n(8), n(8)]}]} for x in range(100)]}
    write(tables, tables.region, [{"image_id": {"S": image_id}, "region_id": {"S": f"r-{k:02d}"},
                                   "succeeded_tiles": tiles, "message": {"S": f"{k}" * 100_000}} for k in range(12)])
    pages = tables.client.get_paginator("query").paginate(
        TableName=tables.region, KeyConditionExpression="image_id = :i",
        ExpressionAttributeValues={":i": {"S": image_id}})
    assert len(list(pages)) >= 2  # what this test is about

    lines = tables.cli(capsys, "export", image_id).stdout.splitlines()
    assert len(lines) == 13
    regions = [json.loads(line) for line in lines[1:]]
    assert [r["region_id"] for r in regions] == [f"r-{k:02d}" for k in range(12)]
    assert all(r["message"] == f"{k}" * 100_000 for k, r in enumerate(regions))
    assert all(len(r["succeeded_tiles"]) == 100 and r["succeeded_tiles"][-1] == [[99, 0], [8, 8]] for r in regions)


def test_export_items_in_every_dynamodb_type() -> None:
    item = {"s": {"S": "text"}, "n": {"N": "12"}, "f": {"N": "1.5"}, "big": {"N": "12345678901234567890"},
            "yes": {"BOOL": True}, "none": {"NULL": True}, "b": {"B": b"\x00\x01"},
            "l": {"L": [{"N": "1"}, {"S": "a"}]}, "m": {"M": {"k": {"N": "2"}}}, "ss": {"SS": ["b", "a"]},
            "ns": {"NS": ["3", "1.5"]}, "bs": {"BS": [b"b", b"a"]}}
    assert plain_item(item) == {"b": "AAE=", "big": 12345678901234567890, "bs": ["YQ==", "Yg=="], "f": 1.5,
                                "l": [1, "a"], "m": {"k": 2}, "n": 12, "none": None, "ns": [1.5, 3],
                                "s": "text", "ss": ["a", "b"], "yes": True}
    assert json.loads(json.dumps(plain_item(item))) == plain_item(item)
