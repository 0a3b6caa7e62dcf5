"""The command line: the parser built from the commands' declarations, and ``main``."""

import argparse
import os
import sys
from typing import NoReturn, Optional, Sequence

from .. import __version__
from ..job_table import JOB_TABLE_ENV
from ..region_request_table import REGION_REQUEST_TABLE_ENV
from . import repair_commands  # noqa: F401  (registers the repair commands)
from .commands import COMMANDS
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, REGION_ENV, CommandError, describe_error, one_line
from .settings import ENDPOINT_ENV, Settings

PROG = "pynamodb-tables"


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def connection_options() -> Parser:
    """The options every command takes."""
    common = Parser(add_help=False)
    group = common.add_argument_group("connection and tables")
    group.add_argument("--endpoint-url", metavar="URL",
                       help=f"DynamoDB endpoint, e.g. DynamoDB Local (default: ${ENDPOINT_ENV}, else AWS's)")
    group.add_argument("--region", help=f"AWS region (default: ${REGION_ENV})")
    group.add_argument("--job-table", metavar="NAME", help=f"job table name (default: ${JOB_TABLE_ENV})")
    group.add_argument("--region-table", metavar="NAME",
                       help=f"region request table name (default: ${REGION_REQUEST_TABLE_ENV})")
    return common


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Manage and inspect the pynamodb_tables job and region request tables.",
                    epilog="Exit codes: 0 success, 1 failure, 2 bad usage, 130 interrupted. "
                           "Run 'pynamodb-tables COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = connection_options()
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, parents=[common], help=command.summary,
                                    description=command.description)
        for each in command.options:
            each.add_to(sub)
        sub.set_defaults(handler=command.handler)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``pynamodb-tables`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.resolve(args.endpoint_url, args.region, args.job_table, args.region_table)
        return int(args.handler(args, settings))
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except CommandError as exc:
        return fail(str(exc), exc.exit_code)
    except Exception as exc:
        return fail(describe_error(exc))


def fail(message: str, exit_code: int = EXIT_FAILURE) -> int:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return exit_code
