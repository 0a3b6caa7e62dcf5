"""The suite's two tiers, its backends, and what every test shares.

Tiers (``tests/README.md``): ``./dev test`` runs the default tier, ``./dev test --full`` everything.
The full tier adds ``tests/end_to_end/``, every test marked ``full``, the behaviour tests of
``tests/unit/`` on DynamoDB Local too (the default tier runs them on moto), the management script
run as the installed script (the default tier calls its ``main`` in-process), and the model-based
test at its full profile.

Backends: moto (``mock_aws``) and AWS's DynamoDB Local, started once per session on a free port;
each test gets tables of its own. No test sleeps for a real backoff: the send loop's and the
contention driver's sleep is replaced by one that records the delays (``backoffs``).
"""

import uuid
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from moto import mock_aws

from pynamodb_tables import JobTable, RegionRequestTable, connection
from pynamodb_tables.testing import DynamoDBLocal
from tests.support import management
from tests.support.backends import Backend

TESTS = Path(__file__).parent
#: Folders whose every test belongs to the full tier only.
FULL_ONLY = ("end_to_end",)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", default=False,
                     help="the full tier: end-to-end tests, tests marked full, both backends, the full Hypothesis "
                          "profile (./dev test --full; CI runs it)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "full: in the full tier only (./dev test --full)")
    management.SUBPROCESS = full_tier(config)  # the script as a subprocess in the full tier, in-process otherwise


def full_tier(config: pytest.Config) -> bool:
    return bool(config.getoption("--full"))


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    for item in items:
        if "dynamodb_local" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.dynamodb_local)
    if full_tier(config):
        return
    kept, left_out = [], []
    for item in items:
        folder = Path(str(item.fspath)).relative_to(TESTS).parts[0]
        (left_out if folder in FULL_ONLY or item.get_closest_marker("full") else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    return ("tier: full (./dev test --full)" if full_tier(config)
            else "tier: default (./dev test; the full tier: ./dev test --full)")


@pytest.fixture(autouse=True)
def backoffs(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """The delays the package would have slept before resending, recorded instead of slept
    (``tests/unit/test_backoff.py`` checks the real sleeper once)."""
    delays: List[float] = []
    monkeypatch.setattr(connection, "sleep", delays.append)
    return delays


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; no endpoint or table names leaking in from the shell."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB",
                 "JOB_TABLE", "REGION_REQUEST_TABLE", "DDB_TTL_IN_DAYS", "DDB_TILE_FLUSH_SECONDS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    server = DynamoDBLocal().start()
    yield server
    server.stop()


@pytest.fixture(params=["moto", pytest.param("dynamodb_local", marks=[pytest.mark.dynamodb_local, pytest.mark.full])])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each backend in the full tier; moto alone in the default tier (DynamoDB Local's own semantics
    have their tests in ``tests/dynamodb_local/``)."""
    if request.param == "moto":
        with mock_aws():
            yield Backend("moto", None)
    else:
        server = request.getfixturevalue("dynamodb_local")
        yield Backend("dynamodb_local", server.endpoint)


@pytest.fixture
def tables(backend: Backend) -> Iterator[Tuple[JobTable, RegionRequestTable]]:
    """The same two table names in every test (so their clients are reused), empty each time."""
    pair = backend.tables()
    yield pair
    if backend.name != "moto":  # moto forgets everything when its mock ends
        for table in pair:
            table.model.delete_table()


@pytest.fixture
def local_tables(dynamodb_local: DynamoDBLocal) -> Iterator[Tuple[JobTable, RegionRequestTable]]:
    """A pair of tables of the test's own on DynamoDB Local only (for fault and sequence tests)."""
    pair = Backend("dynamodb_local", dynamodb_local.endpoint).tables(uuid.uuid4().hex[:8])
    yield pair
    for table in pair:
        table.model.delete_table()


@pytest.fixture
def job_table(tables: Tuple[JobTable, RegionRequestTable]) -> JobTable:
    return tables[0]


@pytest.fixture
def region_table(tables: Tuple[JobTable, RegionRequestTable]) -> RegionRequestTable:
    return tables[1]
