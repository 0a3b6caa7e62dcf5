"""Observing operations: one :class:`OperationEvent` per public operation, to the listeners subscribed,
and two listeners of the package's own: events as CloudWatch metrics, and events summed per operation.

A public operation (each method of the two tables, ``complete_region``, a ``TileRecorder``'s
flush and ``complete``) runs inside :class:`observed`. While a listener is subscribed, that
makes a :class:`Tally` the operation's current record (a context variable, so each thread has
its own) which the one send loop (``connection.send``) counts into: each request sent, each request
sent again by cause, and the capacity DynamoDB reported. Operations that a public operation
calls inside it (a read, a tile write) count into the outer record: the caller gets exactly one
event, for the call it made. The event is built and handed to each listener in the calling
thread once the operation has returned or raised; a listener that raises is logged and ignored.

With no listener subscribed, :class:`observed` sets no record and the send loop counts nothing:
observing costs one check per operation and one per request.

:func:`emf_listener` writes one Embedded Metric Format (EMF) JSON line per operation. A CloudWatch
agent, or Lambda, reading the lines a worker writes turns them into metrics in ``namespace``, with
the dimensions ``Operation`` and ``Table`` (the format the model runner's own metrics use). The lines
are written by the package itself: no dependency. The key of the item and the error's type are plain
members of each line (searchable in CloudWatch Logs Insights), never dimensions (one metric per image
would cost one metric per image).

An :class:`EventSummary` is a listener (``subscribe(summary)``) summing events per operation: calls,
errors, latency percentiles, sends, resends by cause, capacity. What it holds, per operation, is plain
data (:class:`OperationFigures`), which can be merged across threads or processes::

    summary = EventSummary()
    unsubscribe = subscribe(summary)
    ...  # the worker's calls
    figures = summary.figures()  # {"add_tile": OperationFigures(calls=..., ...), ...}
"""

import json
import logging
import re
import sys
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import IO, Any, Callable, Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Tuple, Type

from .errors import InvalidRequestError

logger = logging.getLogger("pynamodb_tables")

#: Why a request was sent again, as :attr:`OperationEvent.retries` counts it (``connection.classify`` decides).
RETRY_CAUSES = ("throttled", "conflict", "answer_lost", "not_sent", "server_error")


@dataclass(frozen=True)
class OperationEvent:
    """What one public operation did: one event per call, success or failure.

    ``retries`` maps each cause of :data:`RETRY_CAUSES` to the requests sent again for it (a
    write refused by its condition and decided again is a new send, not a retry);
    ``read_units`` and ``write_units`` are the capacity DynamoDB reported (it reports none for a
    refused write or a cancelled transaction, though it charges them); ``units_by_table``
    splits them by table, as ``(read, write)``.
    """

    operation: str
    table: Optional[str]
    key: Mapping[str, str]
    duration_ms: float
    sends: int
    retries: Mapping[str, int]
    read_units: float
    write_units: float
    error: Optional[BaseException]
    #: When the operation began: epoch seconds (``time.time()``).
    started_at: float = 0.0
    units_by_table: Mapping[str, Tuple[float, float]] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def retried(self) -> int:
        """Requests sent again, whatever the cause."""
        return sum(self.retries.values())


Listener = Callable[[OperationEvent], None]


def _units(capacity: Any, reads: bool) -> Iterator[Tuple[str, float, float]]:
    """Each table's ``(name, read units, write units)`` in a ``ConsumedCapacity`` DynamoDB returned (one entry,
    or one per table for a transaction): the one place it is read. Where DynamoDB does not split the units
    into read and write, they are ``reads`` or writes."""
    for entry in capacity if isinstance(capacity, list) else [capacity]:
        if not isinstance(entry, dict):
            continue
        read, write = entry.get("ReadCapacityUnits"), entry.get("WriteCapacityUnits")
        if read is None and write is None:
            total = float(entry.get("CapacityUnits") or 0.0)
            read, write = (total, 0.0) if reads else (0.0, total)
        yield str(entry.get("TableName") or ""), float(read or 0.0), float(write or 0.0)


class Tally:
    """The current operation's record, counted into by the send loop (one thread's, no lock)."""

    __slots__ = ("key", "retries", "sends", "units")

    def __init__(self, key: Optional[Mapping[str, str]] = None) -> None:
        self.key: Optional[Mapping[str, str]] = key
        self.sends = 0
        self.retries: Dict[str, int] = dict.fromkeys(RETRY_CAUSES, 0)
        self.units: Dict[str, List[float]] = {}  # table -> [read units, write units]

    def consumed(self, capacity: Any, *, reads: bool) -> None:
        """Add a ``ConsumedCapacity`` DynamoDB returned."""
        for table, read, write in _units(capacity, reads):
            units = self.units.setdefault(table, [0.0, 0.0])
            units[0] += read
            units[1] += write


@dataclass
class Capacity:
    """Requests sent and the units DynamoDB reported for them, while metered (:func:`metered`): reads
    (``GetItem``, ``Query``, ``Scan``) and writes (``UpdateItem``, ``TransactWriteItems``...)."""

    read_units: float = 0.0
    write_units: float = 0.0
    reads: int = 0
    writes: int = 0
    #: Only these tables' units (``None``: every table's).
    tables: Optional[FrozenSet[str]] = field(default=None, repr=False, compare=False)

    def sent(self, *, reads: bool) -> None:
        """One request sent (a read if ``reads``)."""
        if reads:
            self.reads += 1
        else:
            self.writes += 1

    def consumed(self, capacity: Any, *, reads: bool) -> None:
        """Add a ``ConsumedCapacity`` DynamoDB returned (only the metered tables' units)."""
        for table, read, write in _units(capacity, reads):
            if self.tables is None or table in self.tables:
                self.read_units += read
                self.write_units += write

    def count(self, capacity: Any, *, reads: bool) -> None:
        """One request and the ``ConsumedCapacity`` its answer reported."""
        self.sent(reads=reads)
        self.consumed(capacity, reads=reads)


_current: ContextVar[Optional[Tally]] = ContextVar("pynamodb_tables_operation", default=None)
_listeners: Tuple[Tuple[object, Listener], ...] = ()
_lock = threading.Lock()


def tally() -> Optional[Tally]:
    """The record of the operation running in this thread, if it is observed."""
    return _current.get()


_meters: ContextVar[Tuple[Capacity, ...]] = ContextVar("pynamodb_tables_meters", default=())


def meters() -> Tuple[Capacity, ...]:
    """The meters of this thread's requests (:func:`metered`), innermost last."""
    return _meters.get()


@contextmanager
def metered(*tables: Any, capacity: Optional[Capacity] = None) -> Iterator[Capacity]:
    """A :class:`Capacity` counting this thread's requests until the block ends (``capacity``: add to that
    one), and only ``tables``' units where tables are given: counted by the send loop, where an operation's
    event counts its own. Requests of other threads (a worker in the same process) are not counted."""
    meter = capacity if capacity is not None else Capacity(
        tables=frozenset(table.table_name for table in tables) if tables else None)
    token = _meters.set((*_meters.get(), meter))
    try:
        yield meter
    finally:
        _meters.reset(token)


def name_key(key: Mapping[str, str]) -> None:
    """Give the current operation its key, unless it has one: the first item an operation names is its own."""
    record = _current.get()
    if record is not None and record.key is None:
        record.key = key


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener(event)`` after every public operation, in the thread that ran it; returns a
    callable that unsubscribes it. A listener subscribed twice is called twice."""
    if not callable(listener):
        raise InvalidRequestError(f"subscribe: a listener is a callable taking an OperationEvent, got {listener!r}")
    global _listeners
    token = object()
    with _lock:
        _listeners = (*_listeners, (token, listener))

    def unsubscribe() -> None:
        global _listeners
        with _lock:
            _listeners = tuple(entry for entry in _listeners if entry[0] is not token)

    return unsubscribe


class observed:
    """Marks a block as one public operation: ``with observed("flush", table_name, key): ...``.

    Inside another observed block it adds nothing (its requests count in the outer operation);
    with no listener subscribed it records nothing. ``key``, if not given, is the first key
    the operation names (``BoundTable.key``).
    """

    __slots__ = ("_started", "_tally", "_token", "_wall", "key", "operation", "table")

    def __init__(self, operation: str, table: Optional[str], key: Optional[Mapping[str, str]] = None) -> None:
        self.operation = operation
        self.table = table
        self.key = key
        self._tally: Optional[Tally] = None

    def __enter__(self) -> "observed":
        if _listeners and _current.get() is None:
            self._tally = Tally(dict(self.key) if self.key is not None else None)
            self._token: Token[Optional[Tally]] = _current.set(self._tally)
            self._wall = time.time()
            self._started = time.perf_counter()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        record = self._tally
        if record is None:
            return
        duration_ms = (time.perf_counter() - self._started) * 1000.0
        _current.reset(self._token)
        self._tally = None
        units = {table: (read, write) for table, (read, write) in record.units.items()}
        event = OperationEvent(
            operation=self.operation, table=self.table, key=MappingProxyType(dict(record.key or {})),
            duration_ms=duration_ms, sends=record.sends, retries=MappingProxyType(record.retries),
            read_units=float(sum(read for read, _ in units.values())),
            write_units=float(sum(write for _, write in units.values())),
            error=exc, started_at=self._wall, units_by_table=MappingProxyType(units))
        _deliver(event)


def announce(operation: str, table: Optional[str], key: Mapping[str, str], error: BaseException) -> None:
    """An event of its own, sending nothing, for a failure the package handled without raising it (tiles
    a buffered write dropped), wherever it happened (within another operation too)."""
    if _listeners:
        _deliver(OperationEvent(operation=operation, table=table, key=MappingProxyType(dict(key)), duration_ms=0.0,
                                sends=0, retries=MappingProxyType(dict.fromkeys(RETRY_CAUSES, 0)), read_units=0.0,
                                write_units=0.0, error=error, started_at=time.time()))


def _deliver(event: OperationEvent) -> None:
    for _, listener in _listeners:
        try:
            listener(event)
        except Exception:
            logger.exception("a listener of pynamodb_tables' events raised on %s; ignored", event.operation)


DEFAULT_NAMESPACE = "PynamoDBTables"
DIMENSIONS = ("Operation", "Table")
#: Each metric of a line and its CloudWatch unit. The contract's eight, then a metric for each other cause of a resend.
METRICS: Tuple[Tuple[str, str], ...] = (
    ("Duration", "Milliseconds"),
    ("Sends", "Count"),
    ("Retries", "Count"),
    ("Throttles", "Count"),
    ("Conflicts", "Count"),
    ("ReadUnits", "Count"),
    ("WriteUnits", "Count"),
    ("Errors", "Count"),
    ("LostAnswers", "Count"),
    ("NotSent", "Count"),
    ("ServerErrors", "Count"),
)


_NAMESPACE = re.compile(r"[A-Za-z0-9._/#: -]{1,255}")


def namespace_problem(namespace: object) -> Optional[str]:
    """What makes ``namespace`` no CloudWatch namespace (``None``: it is one)."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace) or not namespace.strip():
        return ("a CloudWatch namespace is 1 to 255 letters, digits, spaces or . - _ / # :, "
                f"got {namespace!r}")
    if namespace.startswith("AWS/"):
        return f"namespaces starting with AWS/ are AWS's own, got {namespace!r}"
    return None


def metric_values(event: OperationEvent) -> Dict[str, float]:
    """The value of each of :data:`METRICS` for ``event``."""
    retries = event.retries
    return {
        "Duration": round(event.duration_ms, 3),
        "Sends": event.sends,
        "Retries": event.retried,
        "Throttles": retries.get("throttled", 0),
        "Conflicts": retries.get("conflict", 0),
        "ReadUnits": event.read_units,
        "WriteUnits": event.write_units,
        "Errors": 0 if event.error is None else 1,
        "LostAnswers": retries.get("answer_lost", 0),
        "NotSent": retries.get("not_sent", 0),
        "ServerErrors": retries.get("server_error", 0),
    }


def emf_document(event: OperationEvent, namespace: str = DEFAULT_NAMESPACE) -> Dict[str, Any]:
    """``event`` as one EMF document: the metadata (``_aws``), the dimensions and metrics at the top level,
    and the key and error type as plain members."""
    document: Dict[str, Any] = {
        "_aws": {
            "Timestamp": int(event.started_at * 1000),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [list(DIMENSIONS)],
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRICS],
            }],
        },
        "Operation": event.operation,
        "Table": event.table or "",
    }
    document.update(metric_values(event))
    document.update({name: value for name, value in event.key.items() if name not in document})
    if event.error is not None:
        document["ErrorType"] = type(event.error).__name__
    return document


def emf_listener(stream: Optional[IO[str]] = None, namespace: str = DEFAULT_NAMESPACE) -> Listener:
    """A listener writing one EMF JSON line per event to ``stream`` (default: ``sys.stdout`` as it is
    when each line is written), in ``namespace``; lines from many threads never interleave."""
    problem = namespace_problem(namespace)
    if problem is not None:
        raise InvalidRequestError(f"emf_listener: bad namespace: {problem}")
    lock = threading.Lock()

    def write(event: OperationEvent) -> None:
        line = json.dumps(emf_document(event, namespace), separators=(",", ":"), default=str) + "\n"
        out = stream if stream is not None else sys.stdout
        with lock:
            out.write(line)
            out.flush()

    return write


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of ``values``, nearest rank (``nan`` for none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class OperationFigures:
    """One operation's events, summed."""

    calls: int = 0
    errors: int = 0
    sends: int = 0
    retries: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(RETRY_CAUSES, 0))
    read_units: float = 0.0
    write_units: float = 0.0
    durations_ms: List[float] = field(default_factory=list)

    @classmethod
    def of(cls, event: OperationEvent) -> "OperationFigures":
        """One event's figures."""
        return cls(1, int(event.error is not None), event.sends, dict(event.retries), event.read_units,
                   event.write_units, [event.duration_ms])

    def merge(self, other: "OperationFigures") -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.sends += other.sends
        for cause, count in other.retries.items():
            self.retries[cause] = self.retries.get(cause, 0) + count
        self.read_units += other.read_units
        self.write_units += other.write_units
        self.durations_ms += other.durations_ms

    def percentile_ms(self, q: float) -> float:
        return percentile(self.durations_ms, q)


class EventSummary:
    """A listener summing the events it is given, per operation (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: Dict[str, OperationFigures] = {}

    def __call__(self, event: OperationEvent) -> None:
        with self._lock:
            self._figures.setdefault(event.operation, OperationFigures()).merge(OperationFigures.of(event))

    def merge(self, figures: Mapping[str, OperationFigures]) -> None:
        """Add figures summed elsewhere (another process's)."""
        with self._lock:
            for operation, each in figures.items():
                self._figures.setdefault(operation, OperationFigures()).merge(each)

    def figures(self) -> Dict[str, OperationFigures]:
        """The figures so far, by operation (a copy)."""
        with self._lock:
            copy = {operation: OperationFigures() for operation in self._figures}
            for operation, each in self._figures.items():
                copy[operation].merge(each)
            return copy

    def take(self) -> Dict[str, OperationFigures]:
        """The figures so far, by operation; the summary starts again from none."""
        with self._lock:
            taken, self._figures = self._figures, {}
            return taken
