"""The repair commands, each handler beside its options: ``reconcile``, ``fail-stale``, ``end-job``, ``map``.

Handlers check their arguments (a usage error exits 2 before anything is read or written), call
the library's repair (``pynamodb_tables.repair``) and render what it returns
(``repair_views``). ``cli.COMMANDS`` lists them.
"""

import json
import os
from argparse import Namespace
from typing import Any, List, Optional

from ..repair import end_job, fail_stale, reconcile
from .commands import IMAGE_ID, JSON, command
from .errors import EXIT_OK, EXIT_USAGE, CommandError
from .options import image_id, non_negative, option
from .region_map import region_map
from .repair_views import (
    ended_json,
    ended_view,
    map_json,
    map_view,
    reconcile_json,
    reconcile_view,
    stale_json,
    stale_view,
)
from .settings import Settings, open_table_pair
from .terminal import open_screen

IMAGE_IDS = option("image_ids", nargs="*", type=image_id, metavar="IMAGE_ID", help="the jobs to repair (or --all)")
ALL = option("--all", action="store_true", help="every job in the job table (a paginated scan)")


def chosen_jobs(args: Namespace) -> Optional[List[str]]:
    """The image ids given, or ``None`` for ``--all``: one or the other (else a usage error)."""
    if args.all and args.image_ids:
        raise CommandError("give IMAGE_ID... or --all, not both (see --help)", EXIT_USAGE)
    if not args.all and not args.image_ids:
        raise CommandError("give IMAGE_ID... or --all (see --help)", EXIT_USAGE)
    return None if args.all else list(args.image_ids)


def show(args: Namespace, as_json: Any, view: Any) -> None:
    if args.json:
        print(json.dumps(as_json, indent=2, sort_keys=True))
    else:
        open_screen().show(view)


@command("reconcile", "recount tile counts and job counters; fix what drifted",
         "Recount each region's succeeded_tile_count and failed_tile_count from its tile lists, and each job's "
         "region_success (regions whose latest outcome is SUCCESS) and region_error (PARTIAL or FAILED; a region "
         "restarted after an error outcome counts there until its next outcome) from its regions. Print every "
         "drift and fix it with writes that hold only while the item is still as read (a worker writing "
         "meanwhile wins; it reads again). Exit 0 when the tables agree with the recount; with --dry-run nothing "
         "is written, and the exit code is 1 when any drift was found.",
         IMAGE_IDS, ALL, option("--dry-run", action="store_true", help="only print the drifts; write nothing"), JSON)
def reconcile_command(args: Namespace, settings: Settings) -> int:
    jobs = chosen_jobs(args)
    tables = open_table_pair(settings)
    result = reconcile(tables.job, tables.region, jobs, dry_run=args.dry_run)
    show(args, reconcile_json(result), reconcile_view(result))
    if not result.agrees:
        raise CommandError(f"{len(result.drifts)} drift(s) found; nothing written (--dry-run)")
    return EXIT_OK


@command("fail-stale", "complete FAILED the regions nobody has written for a while",
         "Find each region with no outcome and no write (last update, or start) for --older-than seconds: a "
         "worker that died mid-region. With --yes, complete each FAILED as complete_region does (the job counts "
         "it once, by its latest outcome); a region written since it was read is left alone. Without --yes, list "
         "them, write nothing, and exit 1 if there are any.",
         IMAGE_IDS, ALL, option("--older-than", type=non_negative, required=True, metavar="SECONDS",
                                help="no write for this many seconds (required)"),
         option("--yes", action="store_true", help="really complete them FAILED"), JSON)
def fail_stale_command(args: Namespace, settings: Settings) -> int:
    jobs = chosen_jobs(args)
    tables = open_table_pair(settings)
    sweep = fail_stale(tables.job, tables.region, jobs, args.older_than, apply=args.yes)
    show(args, stale_json(sweep), stale_view(sweep))
    if sweep.regions and not args.yes:
        raise CommandError(f"{len(sweep.regions)} stale region(s) not failed without --yes; nothing written")
    return EXIT_OK


@command("end-job", "end a job whose regions all have an outcome",
         "End the job (end_image_request: sets end_time and processing_duration, exactly once) when every region "
         "has an outcome and region_count regions are recorded; otherwise exit 1 naming the regions still running "
         "and change nothing, unless --force. A job already ended: exit 1, end_time unchanged.",
         IMAGE_ID, option("--force", action="store_true", help="end it even with regions still running"), JSON)
def end_job_command(args: Namespace, settings: Settings) -> int:
    tables = open_table_pair(settings)
    ended = end_job(tables.job, tables.region, args.image_id, force=args.force)
    show(args, ended_json(ended), ended_view(ended))
    return EXIT_OK


@command("map", "draw an image's regions as an SVG picture",
         "Write an SVG picture of the image (the job's width x height): each region at its region_bounds, "
         "coloured by status (with a legend), its failed tiles outlined, its region_id in its <title>, and the "
         "counts in a caption. Bounds are [[x, y], [w, h]] as the contract stores them; --row-col reads "
         "[[row, column], [w, h]], as osml-model-runner's own tiling writes them.",
         IMAGE_ID, option("--out", required=True, metavar="FILE.svg", help="where to write the picture (required)"),
         option("--row-col", action="store_true", help="bounds and tiles hold (row, column) first"), JSON)
def map_command(args: Namespace, settings: Settings) -> int:
    if os.path.isdir(args.out):
        raise CommandError(f"--out {args.out!r} is a directory; give a file name", EXIT_USAGE)
    picture = region_map(open_table_pair(settings), args.image_id, row_col=args.row_col)
    with open(args.out, "w", encoding="utf-8") as out:
        out.write(picture.svg)
    show(args, map_json(picture, args.out), map_view(picture, args.out))
    return EXIT_OK
