"""Observing operations: one :class:`OperationEvent` per public operation, to the listeners subscribed.

A public operation (each method of the two tables, ``complete_region``, a ``TileRecorder``'s
flush and ``complete``) runs inside :class:`observed`. While a listener is subscribed, that
makes a :class:`Tally` the operation's current record (a context variable, so each thread has
its own) which the one send loop (``retry.send``) counts into: each request sent, each request
sent again by cause, and the capacity DynamoDB reported. Operations that a public operation
calls inside it (a read, a tile write) count into the outer record: the caller gets exactly one
event, for the call it made. The event is built and handed to each listener in the calling
thread once the operation has returned or raised; a listener that raises is logged and ignored.

With no listener subscribed, :class:`observed` sets no record and the send loop counts nothing:
observing costs one check per operation and one per request.
"""

import logging
import threading
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Type

from .errors import InvalidRequestError

logger = logging.getLogger("pynamodb_tables")

#: Why a request was sent again, as :attr:`OperationEvent.retries` counts it (``retry.classify`` decides).
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


class Tally:
    """The current operation's record, counted into by the send loop (one thread's, no lock)."""

    __slots__ = ("key", "retries", "sends", "units")

    def __init__(self, key: Optional[Mapping[str, str]] = None) -> None:
        self.key: Optional[Mapping[str, str]] = key
        self.sends = 0
        self.retries: Dict[str, int] = dict.fromkeys(RETRY_CAUSES, 0)
        self.units: Dict[str, List[float]] = {}  # table -> [read units, write units]

    def consumed(self, capacity: Any, *, reads: bool) -> None:
        """Add a ``ConsumedCapacity`` DynamoDB returned (one entry, or one per table for a transaction).
        Where it does not split the units into read and write, they are ``reads`` or writes."""
        for entry in capacity if isinstance(capacity, list) else [capacity]:
            if not isinstance(entry, dict):
                continue
            read, write = entry.get("ReadCapacityUnits"), entry.get("WriteCapacityUnits")
            if read is None and write is None:
                total = float(entry.get("CapacityUnits") or 0.0)
                read, write = (total, 0.0) if reads else (0.0, total)
            units = self.units.setdefault(str(entry.get("TableName") or ""), [0.0, 0.0])
            units[0] += float(read or 0.0)
            units[1] += float(write or 0.0)


_current: ContextVar[Optional[Tally]] = ContextVar("pynamodb_tables_operation", default=None)
_listeners: Tuple[Tuple[object, Listener], ...] = ()
_lock = threading.Lock()


def tally() -> Optional[Tally]:
    """The record of the operation running in this thread, if it is observed."""
    return _current.get()


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
