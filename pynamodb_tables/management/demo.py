"""``demo``: a simulated image job run by worker processes on an embedded DynamoDB, then checked."""

import contextlib
import os
import uuid
from dataclasses import replace
from typing import Iterator, Optional

from ..job_table import JobItem
from ..observing import EventSummary, subscribe
from .definition import TableOptions
from .demo_checks import DemoResult
from .demo_scenario import TILE, Scenario
from .demo_workers import run_workers
from .errors import CommandError
from .job_status import DEFAULT_STALE_AFTER_S, snapshot
from .provisioning import ensure_tables
from .render import operations_view, plain_text, results_view, status_view
from .settings import Settings, open_table_pair

DEMO_TABLES = ("demo-jobs", "demo-regions")


@contextlib.contextmanager
def demo_endpoint(settings: Settings) -> Iterator[Settings]:
    """``settings`` as they are when an endpoint is configured, else pointing at an embedded moto server."""
    if settings.endpoint_url:
        yield settings
        return
    from ..testing import MotoServer

    try:
        server = MotoServer()
    except RuntimeError as exc:
        raise CommandError(f"demo without --endpoint-url: {exc}") from None
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")  # the embedded server's; inherited
    os.environ.pop("AWS_SESSION_TOKEN", None)  # by the workers, and never real credentials
    with server:
        print(f"embedded DynamoDB (moto server) at {server.endpoint}")
        yield replace(settings, endpoint_url=server.endpoint, region=settings.region or "us-east-1")


def run_demo(settings: Settings, workers: int, image_id: Optional[str]) -> None:
    """Run the scenario and print what happened; a :class:`CommandError` if any check fails."""
    settings = replace(settings, job_table=settings.job_table or DEMO_TABLES[0],
                       region_table=settings.region_table or DEMO_TABLES[1])
    scenario = Scenario()
    with demo_endpoint(settings) as settings:
        tables = open_table_pair(settings)
        for result in ensure_tables(tables, TableOptions()):
            print(plain_text(results_view([result], tables.name_width())), flush=True)
        image_id = image_id or f"demo-{uuid.uuid4().hex[:8]}"
        summary = EventSummary()  # the job's calls, from the package's events: this process's, then the workers'
        unsubscribe = subscribe(summary)
        try:
            tables.job.start_image_request(JobItem(
                image_id=image_id, job_id=f"job-{image_id}", image_url="s3://demo-bucket/image.tif",
                region_count=scenario.regions, width=scenario.regions * scenario.tiles * TILE, height=TILE))
        finally:
            unsubscribe()
        print(f"image {image_id}: {scenario.regions} regions of {scenario.tiles} tiles, {workers} worker "
              f"processes; {scenario.region_id(scenario.partial_region)} has a failing tile, "
              f"{scenario.region_id(scenario.failed_region)} fails, {scenario.region_id(scenario.crash_region)}'s "
              f"worker crashes (a new worker takes its place), {scenario.region_id(scenario.duplicate_region)} is "
              "delivered twice\n", flush=True)
        events = run_workers(settings, image_id, scenario, workers)
        print("\n" + plain_text(status_view(snapshot(tables, image_id, DEFAULT_STALE_AFTER_S))))
        regions = {r.region_id: r for r in tables.region.list_regions(image_id)}
        checks = DemoResult(scenario, tables.job.get_image_request(image_id), regions, events).checks()
    for event in events:
        summary.merge(event.operations or {})
    print("\nchecks\n" + "\n".join(f"  {'ok  ' if ok else 'FAIL'}  {text}" for ok, text in checks))
    print("\n" + plain_text(operations_view(summary.figures())))
    failed = [text for ok, text in checks if not ok]
    if failed:
        raise CommandError(f"demo counts are not exact: {'; '.join(failed)}")
