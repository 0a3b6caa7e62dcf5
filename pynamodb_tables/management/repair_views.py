"""What the repair commands show: their results as views (plain text, or colour in a terminal) and as JSON.

The ``--json`` keys are the result types' fields: ``reconcile`` prints a list of drifts
(``image_id``, ``region_id`` (``null`` for the job), ``attribute``, ``stored``, ``recounted``,
``fixed``); ``fail-stale`` a list of stale regions (``image_id``, ``region_id``,
``region_status``, ``last_activity_time``, ``seconds_since_activity``, ``result``: ``would-fail``,
``failed`` or ``changed-since-read``); ``end-job`` an object (``image_id``, ``end_time``,
``processing_duration``, ``forced``, ``running``, ``never_recorded``); ``map`` an object
(``image_id``, ``out``, ``width``, ``height``, ``regions``, ``regions_by_status``,
``regions_not_drawn``, ``succeeded_tiles``, ``failed_tiles``).
"""

from dataclasses import asdict, fields
from typing import Any, Dict, List

from ..repair import Capacity, EndedJob, Reconciliation, StaleSweep
from ..repair.ending import CHANGED, FAILED
from .region_map import RegionMap
from .render import Grid, Line, View, format_duration, format_ms, text


def units_line(capacity: Capacity) -> Line:
    return Line(f"spent {capacity.read_units:g} read units ({capacity.reads} reads) and {capacity.write_units:g} "
                f"write units ({capacity.writes} writes)", "muted")


def reconcile_json(result: Reconciliation) -> List[Dict[str, Any]]:
    return [asdict(drift) for drift in result.drifts]


def reconcile_view(result: Reconciliation) -> View:
    view: View = []
    if result.drifts:
        rows = [[d.image_id, text(d.region_id) if d.region_id is not None else "(job)", d.attribute, text(d.stored),
                 str(d.recounted), "yes" if d.fixed else "no"] for d in result.drifts]
        view.append(Grid(["IMAGE", "REGION", "ATTRIBUTE", "STORED", "RECOUNTED", "FIXED"], rows, frozenset({3, 4}),
                         ["ok" if d.fixed else "warn" for d in result.drifts]))
    fixed = sum(d.fixed for d in result.drifts)
    if result.dry_run:
        summary = f"{len(result.drifts)} drift(s) found; dry run: nothing written"
    else:
        summary = f"{len(result.drifts)} drift(s) found, {fixed} fixed; the tables agree with the recount"
    view.append(Line(f"{result.jobs_checked} job(s) recounted: {summary}", "warn" if result.dry_run and
                     result.drifts else "ok"))
    view.append(units_line(result.capacity))
    return view


def stale_json(sweep: StaleSweep) -> List[Dict[str, Any]]:
    return [asdict(region) for region in sweep.regions]


def stale_view(sweep: StaleSweep) -> View:
    view: View = []
    if sweep.regions:
        rows = [[r.image_id, r.region_id, r.region_status, format_ms(r.last_activity_time),
                 format_duration(r.seconds_since_activity), r.result] for r in sweep.regions]
        styles = ["error" if r.result == FAILED else "muted" if r.result == CHANGED else "warn" for r in sweep.regions]
        view.append(Grid(["IMAGE", "REGION", "STATUS", "LAST ACTIVITY", "IDLE", "RESULT"], rows, frozenset({4}),
                         styles))
    found = f"{len(sweep.regions)} stale region(s) (no outcome, no write for {sweep.older_than_seconds:g}s)"
    if sweep.applied:
        failed = sum(r.result == FAILED for r in sweep.regions)
        changed = sum(r.result == CHANGED for r in sweep.regions)
        summary = f"{found}: {failed} completed FAILED, {changed} written since read (left alone)"
    else:
        summary = f"{found}: nothing written" + ("; --yes completes them FAILED" if sweep.regions else "")
    view += [Line(f"{sweep.jobs_checked} job(s) checked: {summary}"), units_line(sweep.capacity)]
    return view


def ended_json(ended: EndedJob) -> Dict[str, Any]:
    return {f.name: getattr(ended, f.name) for f in fields(ended) if f.name != "capacity"}


def ended_view(ended: EndedJob) -> View:
    duration = format_duration(ended.processing_duration)
    view: View = [Line(f"ended image {ended.image_id} at {format_ms(ended.end_time)} (duration {duration})", "ok")]
    if ended.forced:
        still = f"{len(ended.running)} region(s) without an outcome ({', '.join(ended.running) or '-'})"
        view.append(Line(f"forced: {still}, {ended.never_recorded} never recorded", "warn"))
    view.append(units_line(ended.capacity))
    return view


def map_json(picture: RegionMap, out: str) -> Dict[str, Any]:
    values = {f.name: getattr(picture, f.name) for f in fields(picture) if f.name != "svg"}
    return {**values, "out": out}


def map_view(picture: RegionMap, out: str) -> View:
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(picture.regions_by_status.items()))
    return [Line(f"wrote {out}: image {picture.image_id}, {picture.width} x {picture.height}, "
                 f"{picture.regions} region(s) ({statuses or 'none'}), {picture.failed_tiles} failed tile(s)")]
