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
from tests.management_support import assert_one_line_error, run, script_env

COMMANDS = ("create-tables", "describe-tables", "delete-tables", "status", "list-jobs", "export", "template",
            "iam-policy", "demo")


# --- the command line itself --------------------------------------------------------------------------

@pytest.mark.parametrize("args, code, fragment", [
    (["create-tables", "--job-table", "jobs", "--region-table", "regions", "--billing-mode", "PROVISIONED"], 2,
     "--read-capacity"),
    (["create-tables", "--job-table", "jobs", "--region-table", "regions", "--read-capacity", "5"], 2,
     "PROVISIONED"),
    (["create-tables", "--billing-mode", "SOMETIMES"], 2, "invalid choice"),
    (["status", "img"], 1, "no job table name: pass --job-table or set JOB_TABLE"),
    (["status", "img", "--job-table", "jobs", "--region-table", "regions", "--interval", "-1"], 2, "--interval"),
    (["iam-policy", "--job-table", "no/slash", "--region-table", "regions"], 1, "invalid table name"),
    (["iam-policy", "--job-table", "jobs", "--region-table", "regions", "--account-id", "12"], 2, "--account-id"),
    (["list-jobs", "--region-table", "regions"], 1, "no job table name"),
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


@pytest.mark.parametrize("command", [["describe-tables"], ["list-jobs"], ["export", "img"], ["status", "img"]])
def test_unreachable_endpoint_is_one_line(command: List[str]) -> None:
    result = run(*command, "--endpoint-url", "http://127.0.0.1:9", "--job-table", "jobs", "--region-table",
                 "regions")
    assert_one_line_error(result, "Could not connect to the endpoint URL")
    assert result.returncode == 1


def test_runs_as_a_module() -> None:
    result = subprocess.run([sys.executable, "-m", "pynamodb_tables", "--help"], capture_output=True, text=True,
                            env=script_env(), timeout=60)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_each_management_module_is_small_and_named_in_the_package_map() -> None:
    package = Path(pynamodb_tables.management.__file__).parent
    sizes = {path.stem: len(path.read_text().splitlines()) for path in package.glob("*.py")}
    assert max(sizes.values()) <= 250, sizes
    described = pynamodb_tables.management.__doc__ or ""
    assert [name for name in sizes if name != "__init__" and f"``{name}``" not in described] == []


def test_the_library_never_imports_the_management_script() -> None:
    library = Path(pynamodb_tables.management.__file__).parent.parent
    imports = re.compile(r"^\s*(from|import)\s+[\w.]*management", re.MULTILINE)
    importing = [path.name for path in library.glob("*.py")
                 if path.name != "__main__.py" and imports.search(path.read_text())]
    assert importing == []
