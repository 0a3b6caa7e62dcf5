"""The operator's walkthrough, run as written: the installed script, settings from the environment.

The blocks of README.md ("The operator's script") and docs/management.md ("An operator's
walkthrough"): make the tables, find the stuck job among others, look at it, export it for a
ticket; then the tables' own settings. (Deploying the template is tested on moto's
CloudFormation in test_management_policy.py.)
"""

import json
import time

from pynamodb_tables import JobItem, RegionRequestItem, RequestStatus, TileState, complete_region
from tests.support import management as support
from tests.support.management import Tables, assert_one_line_error, local, run, script_env

tables = support.tables  # fixture


@local
def test_find_the_stuck_job_look_at_it_and_export_it(tables: Tables) -> None:
    env = script_env(AWS_ENDPOINT_URL_DYNAMODB=tables.endpoint, JOB_TABLE=tables.job,
                     REGION_REQUEST_TABLE=tables.region)
    created = run("create-tables", "--deletion-protection", env=env)
    assert created.returncode == 0, created.stderr

    # Three images: one done, one progressing, one whose worker died an hour ago in region r-1.
    job_table, region_table = tables.library()
    for image_id in ("img-done", "img-busy", "img-stuck"):
        job_table.start_image_request(JobItem(image_id=image_id, job_id=f"job-{image_id}", region_count=2))
        for region_id in ("r-0", "r-1"):
            region = region_table.start_region_request(RegionRequestItem(image_id=image_id, region_id=region_id))
            region_table.add_tile(image_id, region_id, [[0, 0], [512, 512]], TileState.SUCCEEDED)
            if image_id == "img-done" or region_id == "r-0":
                complete_region(job_table, region_table, region, RequestStatus.SUCCESS)
    job_table.end_image_request("img-done")
    tables.set_updated("img-stuck", "r-1", int(time.time() * 1000) - 3_600_000)

    # 1. Which jobs are running, and which are stuck.
    running = run("list-jobs", "--state", "running", env=env)
    assert running.returncode == 0, running.stderr
    rows = {line.split()[0]: line.split() for line in running.stdout.splitlines()[1:3]}
    assert set(rows) == {"img-busy", "img-stuck"}
    assert (rows["img-stuck"][2], rows["img-stuck"][3], rows["img-stuck"][6]) == ("running", "1/2", "1")
    assert rows["img-busy"][6] == "0"
    assert "1 job(s) with stale regions" in running.stdout and "read units" in running.stdout
    listed = json.loads(run("list-jobs", "--json", env=env).stdout)
    assert [job["image_id"] for job in listed if job["stale_regions"] > 0] == ["img-stuck"]
    assert {job["image_id"]: job["state"] for job in listed}["img-done"] == "ended"

    # 2. Look at it.
    status = run("status", "img-stuck", env=env)
    assert status.returncode == 0, status.stderr
    stuck = next(line for line in status.stdout.splitlines() if line.startswith("r-1 "))
    assert stuck.split()[1] == "STARTED" and stuck.rstrip().endswith("stale")
    as_json = json.loads(run("status", "img-stuck", "--json", env=env).stdout)
    assert [r["region_id"] for r in as_json["regions"] if r["stale"]] == ["r-1"]

    # 3. Export it for the ticket: the job first, then each region.
    export = run("export", "img-stuck", env=env)
    assert export.returncode == 0, export.stderr
    items = [json.loads(line) for line in export.stdout.splitlines()]
    assert "region_id" not in items[0] and items[0]["job_id"] == "job-img-stuck"
    assert [(i["region_id"], i["region_status"]) for i in items[1:]] == [("r-0", "SUCCESS"), ("r-1", "STARTED")]

    # 4. The tables themselves: as declared, protected against an accidental delete, and as code.
    assert run("describe-tables", env=env).returncode == 0
    assert_one_line_error(run("delete-tables", "--yes", env=env), "deletion protection")
    template = run("template", "--deletion-protection", "--tag", "team=imagery", env=env)
    assert template.returncode == 0, template.stderr
    resources = json.loads(template.stdout)["Resources"]
    assert [(r["Properties"]["TableName"], r["Properties"]["DeletionProtectionEnabled"], r["DeletionPolicy"])
            for r in resources.values()] == [(tables.job, True, "Retain"), (tables.region, True, "Retain")]
