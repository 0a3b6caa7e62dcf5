"""Where the commands connect: endpoint, region and table names, and the two tables they open."""

import os
from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from ..job_table import JOB_TABLE_ENV, JobTable
from ..reads import Table
from ..region_request_table import REGION_REQUEST_TABLE_ENV, RegionRequestTable
from .errors import EXIT_USAGE, REGION_ENV, CommandError

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
