"""The script's arguments: options as data with the types that check their values (a bad value: exit
code 2), and where the commands connect (endpoint, region, table names, the two tables they open)."""

import argparse
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from ..job_table import JOB_TABLE_ENV, JobTable
from ..listeners import namespace_problem
from ..reads import Table
from ..region_request_table import REGION_REQUEST_TABLE_ENV, RegionRequestTable
from .errors import EXIT_USAGE, REGION_ENV, CommandError

KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256  # DynamoDB's limits


@dataclass(frozen=True)
class Option:
    """One ``argparse`` argument: its flags (or name) and settings."""

    flags: Tuple[str, ...]
    settings: Dict[str, Any]

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.flags, **self.settings)


def option(*flags: str, **settings: Any) -> Option:
    return Option(flags, settings)


def positive_int(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def image_id(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("IMAGE_ID must not be empty")
    return text


def kms_key_arn(text: str) -> str:
    if not KMS_KEY_ARN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), got {text!r}")
    return text


def tag_pair(text: str) -> Tuple[str, str]:
    """``KEY=VALUE``: a tag as DynamoDB takes it (the ``aws:`` prefix is AWS's own)."""
    key, equals, value = text.partition("=")
    if not equals or not 0 < len(key) <= TAG_KEY_MAX or len(value) > TAG_VALUE_MAX or key.startswith("aws:"):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (a key of 1 to {TAG_KEY_MAX} characters, not "
                                         f"starting aws:, a value of at most {TAG_VALUE_MAX}), got {text!r}")
    return key, value


def cloudwatch_namespace(text: str) -> str:
    problem = namespace_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


ENDPOINT_ENV = "AWS_ENDPOINT_URL_DYNAMODB"
#: The two tables' roles, in the order every command reports them.
ROLES = ("job", "region request")


@dataclass(frozen=True)
class Settings:
    """Endpoint, region and table names, from the options or else the environment."""

    endpoint_url: Optional[str] = None
    region: Optional[str] = None
    job_table: Optional[str] = None
    region_table: Optional[str] = None

    @classmethod
    def resolve(cls, endpoint_url: Optional[str], region: Optional[str], job_table: Optional[str],
                region_table: Optional[str]) -> "Settings":
        """The options given, each else its environment variable."""
        def pick(option: Optional[str], env: str) -> Optional[str]:
            return option or os.environ.get(env) or None

        endpoint = pick(endpoint_url, ENDPOINT_ENV)
        if endpoint is not None:
            check_endpoint(endpoint, "--endpoint-url" if endpoint_url else f"${ENDPOINT_ENV}")
        return cls(endpoint, pick(region, REGION_ENV), pick(job_table, JOB_TABLE_ENV),
                   pick(region_table, REGION_REQUEST_TABLE_ENV))


def check_endpoint(url: str, given_as: str) -> None:
    """An endpoint URL botocore can use (``http(s)://host[:port]``); else a usage error saying what is missing."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        if "://" not in url:
            problem = f"the scheme is missing: use http://{url} (or https://)"
        else:
            problem = "expected http://HOST[:PORT] or https://HOST[:PORT]"
        raise CommandError(f"{given_as} {url!r}: {problem}", EXIT_USAGE)


class TablePair(NamedTuple):
    """The job table and the region request table, bound to one endpoint and region."""

    job: JobTable
    region: RegionRequestTable

    def roles(self) -> List[Tuple[str, Table]]:
        return list(zip(ROLES, (self.job, self.region)))

    def name_width(self) -> int:
        """The longer table name's length, to align what commands say of each table."""
        return max(len(self.job.table_name), len(self.region.table_name))


def logical_id(role: str) -> str:
    """A table's name in templates and policies: ``JobTable``, ``RegionRequestTable``."""
    return role.title().replace(" ", "") + "Table"


def open_table_pair(settings: Settings) -> TablePair:
    """Both tables, bound to the settings' names, endpoint and region (nothing is sent yet)."""
    names = {"job": (settings.job_table, "--job-table", JOB_TABLE_ENV),
             "region request": (settings.region_table, "--region-table", REGION_REQUEST_TABLE_ENV)}
    for role, (name, option, env) in names.items():
        if not name:
            raise CommandError(f"no {role} table name: pass {option} or set {env}", EXIT_USAGE)
    host, region = settings.endpoint_url, settings.region
    try:
        return TablePair(JobTable(settings.job_table, host=host, region=region),
                      RegionRequestTable(settings.region_table, host=host, region=region))
    except ConfigurationError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from exc
