"""The command line: the parser built from the commands' declarations, and ``main``."""

import argparse
import os
import sys
import textwrap
from typing import Any, List, NoReturn, Optional, Sequence, Tuple

from .. import __version__
from ..job_table import JOB_TABLE_ENV
from ..region_request_table import REGION_REQUEST_TABLE_ENV
from . import commands
from .arguments import ENDPOINT_ENV, Settings
from .commands import Command
from .errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    REGION_ENV,
    CommandError,
    describe_error,
    one_line,
)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, never breaking a line inside a hyphenated word (``pynamodb-tables``, ``--job-table``)."""

    def _split_lines(self, text: str, width: int) -> List[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent,
                             break_on_hyphens=False)


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit code 2)."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(formatter_class=HelpFormatter, **settings)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def connection_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """The options every command takes, before or after the command's name (as the AWS CLI's).

    Given before it they are the main parser's (``default`` None); after it the command's, with no
    default (``argparse.SUPPRESS``), so that they never overwrite what was given before the command.
    """
    group = parser.add_argument_group("connection and tables (before or after COMMAND)")
    group.add_argument("--endpoint-url", metavar="URL", default=default,
                       help=f"DynamoDB endpoint, e.g. DynamoDB Local (default: ${ENDPOINT_ENV}, else AWS's)")
    group.add_argument("--region", default=default, help=f"AWS region (default: ${REGION_ENV})")
    group.add_argument("--job-table", metavar="NAME", default=default,
                       help=f"job table name (default: ${JOB_TABLE_ENV})")
    group.add_argument("--region-table", metavar="NAME", default=default,
                       help=f"region request table name (default: ${REGION_REQUEST_TABLE_ENV})")


#: Every command, in the order the help lists them.
COMMANDS: Tuple[Command, ...] = (
    commands.create_tables, commands.describe, commands.delete, commands.status, commands.jobs, commands.export,
    commands.cloudformation, commands.policy, commands.cloudwatch_dashboard, commands.demo,
    commands.reconcile_command, commands.fail_stale_command, commands.end_job_command,
    commands.map_command,
)


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Manage and inspect the pynamodb_tables job and region request tables.",
                    epilog="Exit codes: 0 success, 1 failure, 2 bad usage, 130 interrupted. "
                           "Run 'pynamodb-tables COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    connection_options(parser, None)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.summary, description=command.description)
        connection_options(sub, argparse.SUPPRESS)
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
