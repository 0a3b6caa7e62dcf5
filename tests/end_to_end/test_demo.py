"""demo: a simulated image job run by worker processes, as operators run it (a subprocess).

``test_dev_demo_on_its_embedded_dynamodb`` runs README.md's first command, ``./dev demo``.
"""

import subprocess
from pathlib import Path

from pynamodb_tables.job_table import JobItem
from pynamodb_tables.management.demo import DemoResult, Scenario
from tests.support import management as support
from tests.support.management import Result, Tables, assert_one_line_error, local, operations_table, run, script_env

tables = support.tables  # fixture


REPOSITORY = Path(__file__).resolve().parent.parent.parent


def test_dev_demo_on_its_embedded_dynamodb() -> None:
    """The README's ``./dev demo``, with a fleet's settings in the environment, which it leaves alone."""
    env = script_env(JOB_TABLE="fleet-jobs", REGION_REQUEST_TABLE="fleet-regions",
                     AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:9")
    done = subprocess.run(["./dev", "demo", "--workers", "2"], cwd=REPOSITORY, env=env, capture_output=True,
                          text=True, timeout=180)
    result = Result(done.returncode, done.stdout, done.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded DynamoDB (moto server) at http://127.0.0.1:" in result.stdout
    assert "demo-jobs" in result.stdout and "demo-regions" in result.stdout and "fleet-" not in result.stdout
    assert "2 worker processes" in result.stdout and "crashes (a new worker takes its place)" in result.stdout
    assert "worker 1 crashed (as planned): worker 3 takes its place" in result.stdout or \
        "worker 2 crashed (as planned): worker 3 takes its place" in result.stdout
    assert "crashed" in result.stdout and "redelivery" in result.stdout and "duplicate" in result.stdout
    checks = result.stdout.split("\nchecks\n")[1].split("\n\n")[0].splitlines()
    assert len(checks) == 7 and all(line.strip().startswith("ok") for line in checks)
    operations = operations_table(result.stdout)  # the demo ends with its calls, from the package's events
    ending = operations.pop("end_image_request")  # by each worker that saw the job complete: one wins
    assert int(ending["calls"]) - int(ending["errors"]) == 1
    assert {name: row["calls"] for name, row in operations.items()} == {
        "start_image_request": "1", "start_region_request": "10", "add_tile": "48", "complete_region": "9"}
    assert operations["start_region_request"]["errors"] == "0"  # the duplicate replays the finished region
    # moto's capacity, as the embedded server estimates what DynamoDB would charge (issue 25): DynamoDB Local's
    # figures below, labelled; never 0 for a transaction.
    assert (operations["add_tile"]["write units"], operations["complete_region"]["write units"],
            operations["complete_region"]["read units"]) == ("48", "32", "10")
    assert "units: capacity estimated from item sizes, as DynamoDB would charge (moto does not)" in result.stdout

    # The duplicate delivery is told as what happened to it, not as a second completion.
    region_06 = [line for line in result.stdout.splitlines() if "  worker " in line and "region-06 " in line]
    assert len(region_06) == 2
    first, duplicate = region_06
    assert "first delivery" in first and "completed  SUCCESS" in first and "duplicate queued" in first
    assert "duplicate" in duplicate and "skipped" in duplicate and "already complete, counted once" in duplicate
    assert "SUCCESS" not in duplicate


@local
def test_demo_against_dynamodb_local_leaves_exact_counts(tables: Tables) -> None:
    result = tables.run("demo", "--image-id", "demo-image", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded" not in result.stdout and "estimated" not in result.stdout  # DynamoDB Local's own units

    job_table, region_table = tables.library()
    job = job_table.get_image_request("demo-image")
    assert (job.region_success, job.region_error, job.region_count) == (6, 2, 8)
    assert job.end_time is not None
    regions = {r.region_id: r for r in region_table.list_regions("demo-image")}
    expected = {f"region-{n:02d}": "SUCCESS" for n in range(8)}
    expected.update({"region-02": "PARTIAL", "region-05": "FAILED"})
    assert {rid: r.region_status for rid, r in regions.items()} == expected
    tiles = {rid: (r.succeeded_tile_count, len(r.succeeded_tiles or []), r.failed_tile_count, len(r.failed_tiles or []))
             for rid, r in regions.items()}
    assert tiles == {rid: {"region-02": (5, 5, 1, 1), "region-05": (0, 0, 6, 6)}.get(rid, (6, 6, 0, 0))
                     for rid in expected}
    assert regions["region-03"].region_retry_count == 1  # crashed, redelivered, finished
    assert regions["region-06"].region_retry_count == 0  # the duplicate changed nothing
    operations = operations_table(result.stdout)  # DynamoDB Local's capacity, as the events reported it
    assert (operations["add_tile"]["calls"], operations["add_tile"]["write units"]) == ("48", "48")
    assert (operations["complete_region"]["sends"], operations["complete_region"]["write units"],
            operations["complete_region"]["read units"]) == ("18", "32", "10")  # (the duplicate's replay: 2 reads)


def test_demo_checks_fail_when_a_count_is_off() -> None:
    # What the demo's exit code rests on: counts off by one (and no regions, no events) fail their checks.
    job = JobItem(image_id="i", region_success=5, region_error=3, region_count=8, end_time=1)
    (no_errors, _), *rest = DemoResult(Scenario(), job, {}, []).checks()
    assert no_errors and len(rest) == 6
    assert not any(ok for ok, _ in rest)
    assert rest[0][1].startswith("job counters exact: region_success 5 (expected 6)")


def test_demo_without_moto_says_so_in_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "moto"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('No module named moto')\n")
    result = run("demo", env=script_env(PYTHONPATH=str(tmp_path)))
    assert_one_line_error(result, "pip install 'pynamodb_tables[demo]'")
