"""``./dev example`` (examples/worker.py): a worker's calls for one image, then the table of those calls that
the package's events give."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.management import operations_table, script_env

REPOSITORY = Path(__file__).resolve().parent.parent.parent


@pytest.mark.dynamodb_local
def test_the_example_ends_with_its_calls_from_events(dynamodb_local: Any) -> None:
    done = subprocess.run([sys.executable, "examples/worker.py"], cwd=REPOSITORY, capture_output=True, text=True,
                          env=script_env(AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local.endpoint), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "success=2 error=2 count=4 ended=True" in done.stdout
    operations = operations_table(done.stdout)
    assert {name: (row["calls"], row["errors"]) for name, row in operations.items()} == {
        "start_image_request": ("1", "0"), "start_region_request": ("4", "0"),
        "TileRecorder.complete": ("8", "0"), "end_image_request": ("1", "0")}  # each region completed twice
    completing = operations["TileRecorder.complete"]  # 4 transactions and job reads, 4 repeats reading both items
    assert (completing["sends"], completing["read units"], completing["write units"]) == ("16", "12", "16")
