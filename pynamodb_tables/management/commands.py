"""The commands: each handler with its options beside it; handlers only connect data to its output.

The repair commands (``reconcile``, ``fail-stale``, ``end-job``, ``map``) check their arguments (a
usage error exits 2 before anything is read or written), call the library's repair
(``pynamodb_tables.repair``) and render what it returns (``views``). ``cli.COMMANDS`` lists every
command.
"""

import json
import os
import re
from argparse import Namespace
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..listeners import DEFAULT_NAMESPACE
from ..repair import end_job, fail_stale, reconcile
from .arguments import (
    Option,
    Settings,
    cloudwatch_namespace,
    image_id,
    kms_key_arn,
    non_negative,
    open_table_pair,
    option,
    positive_int,
    tag_pair,
)
from .definition import (
    BILLING_MODES,
    ON_DEMAND,
    PROVISIONED,
    TableOptions,
    dashboard,
    definitions,
    iam_policy,
    template,
)
from .demo import DEMO_TABLES, run_demo
from .errors import EXIT_OK, EXIT_USAGE, CommandError
from .jobs import DEFAULT_STALE_AFTER_S, JOB_STATES, export_items, list_jobs, snapshot
from .presentation import DEFAULT_INTERVAL_S, MIN_INTERVAL_S, present
from .provisioning import delete_tables, ensure_tables, inspect_both
from .region_map import region_map
from .terminal import open_screen
from .views import (
    View,
    ended_json,
    ended_view,
    job_list_view,
    map_json,
    map_view,
    reconcile_json,
    reconcile_view,
    report_view,
    results_view,
    stale_json,
    stale_view,
    status_view,
)

Handler = Callable[[Namespace, Settings], int]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    summary: str
    description: str
    options: Tuple[Option, ...]


def command(name: str, summary: str, description: str, *options: Option) -> Callable[[Handler], Command]:
    """Declare a command: its name, help, options, and (decorated) handler; the decorated name is the
    :class:`Command` (``cli.COMMANDS`` lists them)."""
    def declare(handler: Handler) -> Command:
        return Command(name, handler, summary, description, options)
    return declare


JSON = option("--json", action="store_true", help="print JSON for scripts (stable keys)")
WATCH = option("--watch", action="store_true",
               help="redraw every --interval seconds until the job ends, riding out outages (with --json, one line "
                    "per poll)")
INTERVAL = option("--interval", type=non_negative, metavar="SECONDS",
                  help=f"seconds between polls with --watch (default: {DEFAULT_INTERVAL_S:g}, at least "
                       f"{MIN_INTERVAL_S:g})")
WIDE = option("--wide", action="store_true",
              help="in a terminal, every column and whole ids, even wider than the terminal (default: fitted to it)")
STALE_AFTER = option("--stale-after", type=non_negative, default=DEFAULT_STALE_AFTER_S, metavar="SECONDS",
                     help="a region without an outcome not updated for this long is stale (default: %(default)g)")
IMAGE_ID = option("image_id", type=image_id, metavar="IMAGE_ID")
TABLE_OPTIONS = (
    option("--billing-mode", type=str.upper, choices=BILLING_MODES, default=ON_DEMAND,
           help="billing mode of tables created (default: %(default)s, on demand)"),
    option("--read-capacity", type=positive_int, metavar="N", help="read capacity units (PROVISIONED)"),
    option("--write-capacity", type=positive_int, metavar="N", help="write capacity units (PROVISIONED)"),
    option("--pitr", action="store_true", help="turn point-in-time recovery on"),
    option("--kms-key", type=kms_key_arn, metavar="ARN",
           help="encrypt tables created with this customer managed KMS key (default: DynamoDB's own key)"),
    option("--deletion-protection", action="store_true", help="turn deletion protection on"),
    option("--tag", type=tag_pair, action="append", default=[], metavar="KEY=VALUE",
           help="tag both tables (repeatable)"),
)


def table_options(args: Namespace) -> TableOptions:
    """The table options given; usage errors for capacities without PROVISIONED (or the reverse)."""
    provisioned = args.billing_mode == PROVISIONED
    given = [args.read_capacity, args.write_capacity]
    if provisioned and None in given:
        raise CommandError("--billing-mode PROVISIONED needs --read-capacity and --write-capacity", EXIT_USAGE)
    if not provisioned and given != [None, None]:
        raise CommandError("--read-capacity and --write-capacity need --billing-mode PROVISIONED", EXIT_USAGE)
    keys = [key for key, _ in args.tag]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise CommandError(f"--tag {', '.join(twice)} given more than once", EXIT_USAGE)
    return TableOptions(args.billing_mode, args.read_capacity, args.write_capacity, args.pitr, args.kms_key,
                        args.deletion_protection, tuple(args.tag))


@command("create-tables", "create both tables (idempotent)",
         "Create the job table (hash image_id S) and region request table (hash image_id S, range region_id S) "
         "with TTL on expire_time, and wait until they are ACTIVE. Existing tables with the right keys are left as "
         "they are, but get what is asked that they lack (TTL, point-in-time recovery, deletion protection, "
         "tags); if either table exists with other keys, or encrypted otherwise than --kms-key, nothing is "
         "changed and the exit code is 1.", *TABLE_OPTIONS)
def create_tables(args: Namespace, settings: Settings) -> int:
    options = table_options(args)
    tables, screen = open_table_pair(settings), open_screen()
    for result in ensure_tables(tables, options):
        screen.show(results_view([result], tables.name_width()))
    return EXIT_OK


@command("describe-tables", "show both tables; exit 0 only if both match",
         "Show each table's status, key schema, billing mode, TTL, point-in-time recovery, deletion protection, "
         "encryption, tags and item count. Exit code 0 only when both tables exist and match the contract.",
         JSON, option("--approximate", action="store_true",
                      help="item counts from DescribeTable (refreshed about every six hours) instead of a scan"))
def describe(args: Namespace, settings: Settings) -> int:
    reports = inspect_both(open_table_pair(settings), details=True, approximate=args.approximate)
    if args.json:
        print(json.dumps({"ok": not any(r.problems() for r in reports), "tables": [r.as_json() for r in reports]},
                         indent=2))
    else:
        open_screen().show(report_view(reports))
    problems = [f"{r.role} table {r.name!r} {'; '.join(r.problems())}" for r in reports if r.problems()]
    if problems:
        raise CommandError("does not match the contract: " + "; ".join(problems))
    return EXIT_OK


@command("delete-tables", "delete both tables (needs --yes)",
         "Delete both tables and every item in them. Refuses without --yes, and while either table has deletion "
         "protection on.", option("--yes", action="store_true", help="really delete both tables"))
def delete(args: Namespace, settings: Settings) -> int:
    tables = open_table_pair(settings)
    if not args.yes:
        names = " and ".join(repr(table.table_name) for _, table in tables.roles())
        raise CommandError(f"refusing to delete {names} without --yes", EXIT_USAGE)
    screen = open_screen()
    for result in delete_tables(tables):
        screen.show(results_view([result], tables.name_width()))
    return EXIT_OK


@command("status", "show a job and its regions",
         "Show a job (region counts, start, end, duration) and each region (status, retries, tiles, last update; "
         "'stale' when a region without an outcome has not been updated for a while). With --watch, redraw (only "
         "regions without an outcome) until the job ends, then the whole job once more.", IMAGE_ID, JSON, WATCH,
         INTERVAL, WIDE, STALE_AFTER)
def status(args: Namespace, settings: Settings) -> int:
    tables = open_table_pair(settings)

    def view(snap: Dict[str, Any], width: Optional[int]) -> View:
        running_only = args.watch and snap["job"]["state"] != "ended"  # the last frame shows every region
        return status_view(snap, running_only=running_only, width=width)

    return present(args, lambda _: snapshot(tables, args.image_id, args.stale_after), view, lambda snap: snap,
                   lambda snap: bool(snap["job"]["state"] == "ended"))


@command("list-jobs", "list every job, newest first",
         "List every job in the job table, newest first: its state, region counts, how many of its regions are "
         "stale, when it started and for how long; then the read units the scan and the region queries spent. "
         "With --watch, redraw until every listed job has ended.",
         option("--state", choices=JOB_STATES, help="only jobs in this state"), JSON, WATCH, INTERVAL, WIDE,
         STALE_AFTER)
def jobs(args: Namespace, settings: Settings) -> int:
    tables = open_table_pair(settings)
    return present(args, lambda progress: list_jobs(tables, args.state, args.stale_after, progress),
                   lambda listed, _: job_list_view(listed, tables.job.table_name), lambda listed: listed.as_json(),
                   lambda listed: all(job["state"] == "ended" for job in listed.jobs))


@command("export", "print a job and its regions as JSON lines",
         "Print the job and every region of IMAGE_ID as JSON lines, one item per line, job first, every attribute "
         "as stored (strongly consistent reads): for tickets and jq.", IMAGE_ID)
def export(args: Namespace, settings: Settings) -> int:
    for item in export_items(open_table_pair(settings), args.image_id):
        print(json.dumps(item, sort_keys=True), flush=True)
    return EXIT_OK


@command("template", "print a CloudFormation template of both tables",
         "Print a CloudFormation template (JSON) declaring both tables as create-tables would make them with the "
         "same options: keys, billing, TTL, point-in-time recovery, encryption, deletion protection and tags. "
         "Tables with deletion protection are also retained when the stack is deleted.", *TABLE_OPTIONS)
def cloudformation(args: Namespace, settings: Settings) -> int:
    options = table_options(args)
    print(json.dumps(template(definitions(open_table_pair(settings), options)), indent=2))
    return EXIT_OK


@command("iam-policy", "print the IAM policy a worker needs",
         "Print the least-privilege IAM policy (JSON) a worker needs on the two tables: GetItem and UpdateItem "
         "on the job table; GetItem, UpdateItem and Query on the region request table. The ARNs "
         "use --region (default: $AWS_DEFAULT_REGION, else '*') and --account-id.",
         option("--account-id", default="*", metavar="ID", help="AWS account id of the tables (default: '*', any "
                                                                 "account)"))
def policy(args: Namespace, settings: Settings) -> int:
    if not re.fullmatch(r"\d{12}|\*", args.account_id):
        raise CommandError(f"--account-id must be 12 digits or '*', got {args.account_id!r}", EXIT_USAGE)
    print(json.dumps(iam_policy(open_table_pair(settings), settings.region or "*", args.account_id), indent=2))
    return EXIT_OK


@command("dashboard", "print a CloudWatch dashboard of the workers' operations",
         "Print a CloudWatch dashboard (JSON: a PutDashboard body) graphing, per operation and table, the metrics "
         "that the workers' emf_listener lines put in --namespace: calls, latency p99, throttled requests, "
         "transaction conflicts, lost answers, server errors and requests not sent, read and write units, errors. "
         "Its graphs are in --region (default: $AWS_DEFAULT_REGION); where the table names are given "
         "(--job-table, --region-table or their variables), they graph those two tables only.",
         option("--namespace", type=cloudwatch_namespace, default=DEFAULT_NAMESPACE, metavar="N",
                help="the CloudWatch namespace of the metrics (emf_listener's namespace; default: %(default)s)"))
def cloudwatch_dashboard(args: Namespace, settings: Settings) -> int:
    if not settings.region:
        raise CommandError("dashboard needs --region (or $AWS_DEFAULT_REGION): where the metrics are", EXIT_USAGE)
    tables = [name for name in (settings.job_table, settings.region_table) if name]
    print(json.dumps(dashboard(args.namespace, settings.region, tables), indent=2))
    return EXIT_OK


@command("demo", "run a simulated image job with worker processes",
         "Run a simulated image job with worker processes making the real library calls (tile failures, a crashed "
         "and redriven region, a duplicate delivery), then check the counts are exact. Without --endpoint-url it "
         "starts an embedded DynamoDB (moto, pip install 'pynamodb_tables[demo]'). Tables are --job-table and "
         f"--region-table, else {DEMO_TABLES[0]} and {DEMO_TABLES[1]} (never $JOB_TABLE, $REGION_REQUEST_TABLE or "
         "$AWS_ENDPOINT_URL_DYNAMODB), created if missing.",
         option("--workers", type=positive_int, default=3, metavar="N", help="worker processes (default: %(default)s)"),
         option("--image-id", metavar="ID", help="the simulated image's id (default: demo-<random>)"))
def demo(args: Namespace, settings: Settings) -> int:
    # Only what the command line names: the environment's tables and endpoint may be a fleet's.
    run_demo(replace(settings, endpoint_url=args.endpoint_url, job_table=args.job_table,
                     region_table=args.region_table), args.workers, args.image_id)
    return EXIT_OK


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
