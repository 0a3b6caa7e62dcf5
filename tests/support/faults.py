"""Fault injection through botocore's event hooks: throttling, 5xx, and lost responses.

``FaultInjector`` registers on the ``before-send`` event of the clients the package uses.
Every ``every``-th request of each operation is answered with a fault instead of DynamoDB's
answer; botocore then retries it, as it would against DynamoDB.

- ``throttle``: the request is not sent; the answer is a 400 ``ThrottlingException``.
- ``server-error``: the request is not sent; the answer is a 500 ``InternalServerError``.
- ``lost-response``: the request *is* sent and applied, then the answer is replaced by a 500:
  the case where a write lands but its caller never hears so, and retries.
- ``transaction-conflict``: the request is not sent; the answer is a 400
  ``TransactionConflictException`` (an item write racing a transaction), which botocore
  does not retry: the package must.
- ``lost-timeout``: the request *is* sent and applied, then the caller gets a read timeout.
- ``no-answer``: the request is not sent; the caller gets a read timeout (DynamoDB does not answer).
- ``not-sent``: the request is not sent; the caller cannot connect (connection refused).
- ``cancelled-conflict``: the request (a transaction) is not sent; the answer is a 400
  ``TransactionCanceledException`` whose first item lost a race with another transaction
  (``TransactionConflict``), as DynamoDB answers a transaction that conflicts with another.

``between``, if given, runs after a lost request was applied and before its caller hears of it
(another worker acting in that window).

``CallCounter`` counts the calls; ``BeforeEachTransaction`` lets another writer act right before each
transaction is sent.
"""

import contextlib
import json
import threading
import urllib.request
from collections import Counter
from typing import Any, Callable, Iterable, List, Optional, Sequence, Union

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from pynamodb_tables import JobTable, RegionRequestTable

FAULTS = {
    "throttle": (400, "com.amazonaws.dynamodb.v20120810#ThrottlingException"),
    "server-error": (500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
    "lost-response": (500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
    "transaction-conflict": (400, "com.amazonaws.dynamodb.v20120810#TransactionConflictException"),
}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self.data


def clients_of(job_table: JobTable, region_table: RegionRequestTable) -> List[Any]:
    """The botocore clients behind the two tables and behind ``complete_region``'s transactions."""
    return list({id(client): client for client in [*job_table.clients(), *region_table.clients()]}.values())


class FaultInjector:
    """Faults every ``every``-th request of each operation (of ``operations``, if given), at most ``limit``.

    ``kind`` is one kind of fault, or several taken in turn.
    """

    def __init__(self, kind: Union[str, Sequence[str]], every: int, operations: Optional[Iterable[str]] = None,
                 limit: Optional[int] = None, between: Optional[Callable[[], None]] = None) -> None:
        self.kinds = [kind] if isinstance(kind, str) else list(kind)
        self.between = between
        self.every = every
        self.operations = set(operations) if operations is not None else None
        self.limit = limit
        self.seen: Counter = Counter()  # operation -> requests seen
        self.injected: Counter = Counter()  # operation -> faults injected
        self.sent: List[dict] = []  # bodies of TransactWriteItems requests, in order
        self._lock = threading.Lock()
        self._clients: List[Any] = []

    def install(self, clients: Iterable[Any]) -> "FaultInjector":
        for client in clients:
            client.meta.events.register_first("before-send.dynamodb", self._before_send)
            self._clients.append(client)
        return self

    def remove(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-send.dynamodb", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> Optional[AWSResponse]:
        operation = operation_of(request)
        if operation == "TransactWriteItems":
            with self._lock:
                self.sent.append(json.loads(request.body))
        with self._lock:
            self.seen[operation] += 1
            inject = (self.seen[operation] % self.every == 0
                      and (self.operations is None or operation in self.operations)
                      and (self.limit is None or sum(self.injected.values()) < self.limit))
            if inject:
                self.injected[operation] += 1
        if not inject:
            return None
        kind = self.kinds[(sum(self.injected.values()) - 1) % len(self.kinds)]
        return answer_with_fault(request, kind, self.between)


def operation_of(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    return str(target.decode() if isinstance(target, bytes) else target).split(".")[-1]


def answer_with_fault(request: Any, kind: str, between: Optional[Callable[[], None]] = None) -> AWSResponse:
    """The answer a faulted request gets (after sending it on, for the lost kinds)."""
    if kind in ("lost-response", "lost-timeout"):
        forward = urllib.request.Request(request.url, data=request.body, method=request.method,
                                         headers={k: (v.decode() if isinstance(v, bytes) else v)
                                                  for k, v in request.headers.items()})
        with contextlib.suppress(Exception):  # applied or refused, the caller hears the same lost answer
            urllib.request.urlopen(forward, timeout=30).read()
        if between is not None:
            between()
    if kind in ("lost-timeout", "no-answer"):
        raise ReadTimeoutError(endpoint_url=request.url)
    if kind == "not-sent":
        raise EndpointConnectionError(endpoint_url=request.url)
    if kind == "cancelled-conflict":
        items = len(json.loads(request.body).get("TransactItems", [])) or 1
        reasons = [{"Code": "TransactionConflict", "Message": "injected"}] + [{"Code": "None"}] * (items - 1)
        return error_answer(request, 400, {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                                           "Message": "Transaction cancelled (injected)",
                                           "CancellationReasons": reasons})
    status, error_type = FAULTS[kind]
    return error_answer(request, status, {"__type": error_type, "message": f"injected {kind}"})


def error_answer(request: Any, status: int, body: dict) -> AWSResponse:
    return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.0",
                                             "x-amzn-RequestId": "injected"}, _Body(json.dumps(body).encode()))


class ArmedFault:
    """A fault for the next request on some clients, armed one at a time (for model-based tests)."""

    def __init__(self, clients: Iterable[Any]) -> None:
        self.kind: Optional[str] = None
        self.between: Optional[Callable[[], None]] = None
        self.hit: Optional[str] = None  # the operation the last fault hit
        self._lock = threading.Lock()
        for client in clients:
            client.meta.events.register_first("before-send.dynamodb", self._before_send)

    def arm(self, kind: str, between: Optional[Callable[[], None]] = None) -> None:
        with self._lock:
            self.kind, self.between, self.hit = kind, between, None

    def disarm(self) -> None:
        with self._lock:
            self.kind = self.between = None

    def _before_send(self, request: Any, **_: Any) -> Optional[AWSResponse]:
        with self._lock:
            kind, between, self.kind, self.between = self.kind, self.between, None, None
            if kind is not None:
                self.hit = operation_of(request)
        return answer_with_fault(request, kind, between) if kind is not None else None


class _OnClients:
    """A botocore event handler (``_handle``) on some clients while in a ``with`` block."""

    event = ""
    first = False  # (registered before botocore's own handlers)

    def __init__(self, clients: Iterable[Any]) -> None:
        self._clients = list(clients)

    def _handle(self, **kwargs: Any) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        for client in self._clients:
            register = client.meta.events.register_first if self.first else client.meta.events.register
            register(self.event, self._handle)
        return self

    def __exit__(self, *_: Any) -> None:
        for client in self._clients:
            client.meta.events.unregister(self.event, self._handle)


class CallCounter(_OnClients):
    """Counts the DynamoDB API calls the package's clients make (botocore ``before-call``)."""

    event = "before-call.dynamodb"

    def __init__(self, clients: Iterable[Any]) -> None:
        super().__init__(clients)
        self.calls: Counter = Counter()

    def _handle(self, model: Any = None, **_: Any) -> None:
        self.calls[model.name] += 1


class BeforeEachTransaction(_OnClients):
    """Runs the next of ``actions`` (another writer's) right before each ``TransactWriteItems`` the clients send."""

    event, first = "before-send.dynamodb", True

    def __init__(self, clients: Iterable[Any], actions: Iterable[Callable[[], None]]) -> None:
        super().__init__(clients)
        self.actions, self.sent = list(actions), 0

    def _handle(self, request: Any = None, **_: Any) -> None:
        if operation_of(request) == "TransactWriteItems":
            self.sent += 1
            if self.actions:
                self.actions.pop(0)()
