"""The management script's command line itself: usage errors, connection errors, help, the package's shape.

The commands' own tests are in the other ``test_management_*.py`` files; helpers in
``management_support.py``.
"""

import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

import pynamodb_tables.management
from tests.support.management import assert_one_line_error, run, script_env

COMMANDS = ("create-tables", "describe-tables", "delete-tables", "status", "list-jobs", "export", "template",
            "iam-policy", "dashboard", "demo")


# --- the command line itself --------------------------------------------------------------------------

@pytest.mark.parametrize("args, code, fragment", [
    (["create-tables", "--job-table", "jobs", "--region-table", "regions", "--billing-mode", "PROVISIONED"], 2,
     "--read-capacity"),
    (["create-tables", "--job-table", "jobs", "--region-table", "regions", "--read-capacity", "5"], 2,
     "PROVISIONED"),
    (["create-tables", "--billing-mode", "SOMETIMES"], 2, "invalid choice"),
    (["status", "img"], 2, "no job table name: pass --job-table or set JOB_TABLE"),
    (["status", "img", "--job-table", "jobs", "--region-table", "regions", "--interval", "-1"], 2, "--interval"),
    (["status", "img", "--job-table", "jobs", "--region-table", "regions", "--watch", "--interval", "0"], 2,
     "--interval must be at least 0.5 seconds (each poll costs read units), got 0"),
    (["status", "img", "--job-table", "jobs", "--region-table", "regions", "--interval", "5"], 2,
     "--interval needs --watch"),
    (["list-jobs", "--job-table", "jobs", "--region-table", "regions", "--interval", "5"], 2,
     "--interval needs --watch"),
    (["iam-policy", "--job-table", "no/slash", "--region-table", "regions"], 2, "invalid table name 'no/slash'"),
    (["iam-policy", "--job-table", "jobs", "--region-table", "regions", "--account-id", "12"], 2, "--account-id"),
    (["list-jobs", "--region-table", "regions"], 2, "no job table name"),
    (["delete-tables", "--job-table", "jobs", "--region-table", "regions"], 2,
     "refusing to delete 'jobs' and 'regions' without --yes"),
    (["list-jobs", "--endpoint-url", "localhost:8765", "--job-table", "jobs", "--region-table", "regions"], 2,
     "--endpoint-url 'localhost:8765': the scheme is missing: use http://localhost:8765 (or https://)"),
    (["--endpoint-url", "ftp://localhost:8765", "list-jobs", "--job-table", "jobs", "--region-table", "regions"], 2,
     "--endpoint-url 'ftp://localhost:8765': expected http://HOST[:PORT] or https://HOST[:PORT]"),
    (["list-jobs", "--job-table", "jobs", "--region-table", "regions", "--state", "stuck"], 2, "invalid choice"),
    (["list-jobs", "--job-table", "jobs", "--region-table", "regions", "--stale-after", "soon"], 2, "--stale-after"),
    (["export", "--job-table", "jobs", "--region-table", "regions"], 2, "IMAGE_ID"),
    (["export", "", "--job-table", "jobs", "--region-table", "regions"], 2, "IMAGE_ID must not be empty"),
    (["template", "--job-table", "jobs", "--region-table", "regions", "--kms-key", "key-1"], 2, "KMS key ARN"),
    (["frobnicate"], 2, "invalid choice"),
    ([], 2, "COMMAND"),
])
def test_usage_errors_are_one_line(args: List[str], code: int, fragment: str) -> None:
    result = run(*args)
    assert_one_line_error(result, fragment)
    assert result.returncode == code


def test_an_endpoint_from_the_environment_without_its_scheme_is_named() -> None:
    result = run("list-jobs", "--job-table", "jobs", "--region-table", "regions",
                 env=script_env(AWS_ENDPOINT_URL_DYNAMODB="localhost:8000"))
    assert_one_line_error(result, "$AWS_ENDPOINT_URL_DYNAMODB 'localhost:8000': the scheme is missing")
    assert result.returncode == 2


@pytest.mark.parametrize("where", ["before", "after", "both"])
def test_the_common_options_work_before_or_after_the_command(where: str) -> None:
    """As the AWS CLI's: ``pynamodb-tables --endpoint-url URL list-jobs`` or ``list-jobs --endpoint-url URL``
    (given in both places, the one after the command wins)."""
    common = ["--endpoint-url", "http://127.0.0.1:9", "--region", "eu-west-1", "--job-table", "jobs",
              "--region-table", "regions"]
    before = common if where != "after" else []
    after = common if where == "after" else (["--job-table", "other-jobs"] if where == "both" else [])
    result = run(*before, "list-jobs", *after)
    assert_one_line_error(result, "Could not connect to the endpoint URL", "http://127.0.0.1:9")
    assert result.returncode == 1
    policy = run(*before, "iam-policy", *after)
    assert policy.returncode == 0, policy.stderr
    assert f"arn:aws:dynamodb:eu-west-1:*:table/{'other-jobs' if where == 'both' else 'jobs'}" in policy.stdout


def test_help_never_breaks_a_hyphenated_word() -> None:
    for args in (["--help"], ["status", "--help"], ["create-tables", "--help"]):
        result = run(*args, env=script_env(COLUMNS="60"))
        assert result.returncode == 0
        lines = result.stdout.splitlines()
        assert not [line for line in lines if line.rstrip().endswith("-") and not line.strip().startswith("-")], \
            result.stdout
        assert "pynamodb-tables COMMAND --help" in " ".join(result.stdout.split()) or args != ["--help"]


@pytest.mark.parametrize("command", [["describe-tables"], ["list-jobs"], ["export", "img"], ["status", "img"]])
def test_unreachable_endpoint_is_one_line(command: List[str]) -> None:
    result = run(*command, "--endpoint-url", "http://127.0.0.1:9", "--job-table", "jobs", "--region-table",
                 "regions")
    assert_one_line_error(result, "Could not connect to the endpoint URL")
    assert result.returncode == 1
    if "img" in command:  # the error names the image
        assert "image_id='img'" in result.stderr


@pytest.mark.full
def test_runs_as_a_module() -> None:
    result = subprocess.run([sys.executable, "-m", "pynamodb_tables", "--help"], capture_output=True, text=True,
                            env=script_env(), timeout=60)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_each_management_module_is_small_and_named_in_the_package_map() -> None:
    package = Path(pynamodb_tables.management.__file__).parent
    sizes = {path.stem: len(path.read_text().splitlines()) for path in package.glob("*.py")}
    assert max(sizes.values()) <= 450, sizes  # (issue 25: modules of 150-450 lines, about a dozen)
    described = pynamodb_tables.management.__doc__ or ""
    assert [name for name in sizes if name != "__init__" and f"``{name}``" not in described] == []


def test_the_library_never_imports_the_management_script() -> None:
    library = Path(pynamodb_tables.management.__file__).parent.parent
    imports = re.compile(r"^\s*(from|import)\s+[\w.]*management", re.MULTILINE)
    importing = [path.name for path in library.glob("*.py")
                 if path.name != "__main__.py" and imports.search(path.read_text())]
    assert importing == []
