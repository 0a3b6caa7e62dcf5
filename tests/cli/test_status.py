"""status: one job and its regions, as text, JSON, and redrawn with --watch, on DynamoDB Local."""

import json

import pytest

from tests.support import management as support
from tests.support.management import (
    Tables,
    assert_one_line_error,
    local,
    make_job,
    run,
    script_env,
    watch_until_finished,
)

tables = support.tables  # fixture

pytestmark = local


def line_of(text: str, region_id: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(region_id + " "))


def test_status_text_from_environment_settings(tables: Tables) -> None:
    make_job(tables)
    env = script_env(AWS_ENDPOINT_URL_DYNAMODB=tables.endpoint, JOB_TABLE=tables.job,
                     REGION_REQUEST_TABLE=tables.region)
    result = run("status", "img", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("image     img\njob       job-7\nstate     running\n")
    assert "1/3 done: 1 succeeded, 0 with errors" in out and "[" in out
    assert out.splitlines()[8].split() == ["REGION", "STATUS", "RETRIES", "TILES", "OK", "FAILED", "LAST", "UPDATE",
                                           "AGE"]
    assert line_of(out, "r-0").split()[:6] == ["r-0", "SUCCESS", "0", "2", "2", "0"]
    assert line_of(out, "r-1").split()[:6] == ["r-1", "STARTED", "0", "2", "1", "1"]
    assert line_of(out, "r-2").rstrip().endswith("stale")
    assert "stale" not in line_of(out, "r-1") and "stale" not in line_of(out, "r-0")
    assert "1 stale region(s)" in out
    assert "\033[" not in out  # not a terminal: plain text


def test_status_json(tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    make_job(tables)
    result = tables.cli(capsys, "status", "img", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert set(status) == {"image_id", "checked_at", "stale_after_seconds", "job", "regions", "summary"}
    job = status["job"]
    assert set(job) == {"job_id", "state", "region_count", "region_success", "region_error", "start_time",
                        "end_time", "duration_seconds"}
    assert (job["job_id"], job["state"], job["region_count"], job["region_success"], job["region_error"]) == (
        "job-7", "running", 3, 1, 0)
    assert isinstance(job["start_time"], int) and job["end_time"] is None
    regions = {r["region_id"]: r for r in status["regions"]}
    assert list(regions) == ["r-0", "r-1", "r-2"]
    assert set(regions["r-0"]) == {"region_id", "region_status", "region_retry_count", "total_tiles",
                                   "succeeded_tile_count", "failed_tile_count", "start_time", "last_updated_time",
                                   "end_time", "seconds_since_update", "stale"}
    assert (regions["r-1"]["succeeded_tile_count"], regions["r-1"]["failed_tile_count"]) == (1, 1)
    assert [regions[r]["stale"] for r in regions] == [False, False, True]
    assert regions["r-2"]["seconds_since_update"] >= 3600
    assert status["summary"] == {"regions_seen": 3, "regions_by_status": {"SUCCESS": 1, "STARTED": 2},
                                 "stale_regions": 1}

    strict = json.loads(tables.cli(capsys, "status", "img", "--json", "--stale-after", "0").stdout)
    assert [r["stale"] for r in strict["regions"]] == [False, True, True]  # a finished region is never stale
    assert strict["stale_after_seconds"] == 0


def test_status_of_an_unknown_image_is_one_clear_error(tables: Tables, capsys: pytest.CaptureFixture[str]) -> None:
    assert tables.cli(capsys, "create-tables").returncode == 0
    assert_one_line_error(tables.cli(capsys, "status", "no-such-image"), "unknown image 'no-such-image'", tables.job)
    assert_one_line_error(tables.cli(capsys, "status", "no-such-image", "--watch"), "unknown image")
    empty = tables.cli(capsys, "status", " ")
    assert_one_line_error(empty, "IMAGE_ID must not be empty")
    assert empty.returncode == 2


@pytest.mark.full
def test_status_watch_ends_when_the_job_ends(tables: Tables) -> None:
    make_job(tables)
    first, last = watch_until_finished(tables, "status", "img")
    assert first["job"]["state"] == "running"
    assert last["job"]["state"] == "ended" and last["job"]["end_time"] is not None
    assert (last["job"]["region_success"], last["job"]["region_error"]) == (2, 1)

    # On a job that has ended, --watch draws once (text, with its progress bar) and exits.
    ended = tables.run("status", "img", "--watch", "--interval", "60", timeout=30)
    assert ended.returncode == 0, ended.stderr
    assert "ended" in ended.stdout and "[" + "#" * 10 in ended.stdout
    assert "3/3 done: 2 succeeded, 1 with errors" in ended.stdout
