"""The commands: each handler with its options beside it. Handlers only connect data to its output."""

import json
import re
from argparse import Namespace
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Optional, Tuple

from ..observing import DEFAULT_NAMESPACE
from .dashboard import dashboard
from .definition import BILLING_MODES, ON_DEMAND, PROVISIONED, TableOptions, definitions
from .demo import DEMO_TABLES, run_demo
from .errors import EXIT_OK, EXIT_USAGE, CommandError
from .export import export_items
from .iam_policy import iam_policy
from .inspection import inspect_both
from .job_list import list_jobs
from .job_status import DEFAULT_STALE_AFTER_S, JOB_STATES, snapshot
from .options import (
    Option,
    cloudwatch_namespace,
    image_id,
    kms_key_arn,
    non_negative,
    option,
    positive_int,
    tag_pair,
)
from .presentation import present
from .provisioning import delete_tables, ensure_tables
from .render import View, job_list_view, report_view, results_view, status_view
from .settings import Settings, open_table_pair
from .template import template
from .terminal import open_screen
from .watch import DEFAULT_INTERVAL_S, MIN_INTERVAL_S

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
