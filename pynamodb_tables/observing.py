"""A public operation: its event, its failures and the one place they become its public error.

One :class:`OperationEvent` per public operation goes to the listeners subscribed; the package's own
listeners are in ``listeners.py`` (CloudWatch metrics, events summed per operation) and ``otel.py``
(OpenTelemetry spans).

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

A block's requests are metered the same way (:func:`metered`, a :class:`Capacity`: a repair's, a
command's reads): counted by the send loop, where each event counts its own.

The one family the internals raise to an operation, never to a caller, from the send loop
(``connection.send``) up:

- :class:`ConditionNotMet` (and :class:`TransactionRefused`): a conditional write was refused and
  changed nothing; it carries the item as stored, so the operation decides again
  (``store.settle``).
- :class:`Failed`: the operation failed (a request DynamoDB did not take, an unknown item, an
  item that cannot be read...).

:func:`operation` (and :func:`table_operation`, for a table's public method) wraps one public
operation: observed as one event (:class:`observed`), its :class:`Failed` raised as the
operation's public error, naming the operation, the table and the key, chaining the cause
(:func:`failing_as`); the package's own errors raised inside are named where they are not already
(:func:`located`).
"""

import functools
import logging
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    cast,
)

from .errors import InvalidRequestError, PynamoDBTablesError

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


class ConditionNotMet(Exception):
    """A conditional write was refused and changed nothing; the operation decides what that means.

    ``stored`` is the item as the refusal found it (``None``: no such item), ``after_unknown``
    whether an earlier send of the same write may have landed (so the refusal may be its own).
    """

    def __init__(self, stored: Any, after_unknown: bool) -> None:
        super().__init__("condition not met")
        self.stored = stored
        self.after_unknown = after_unknown


class TransactionRefused(ConditionNotMet):
    """A transaction cancelled by a condition: ``refused[i]`` tells whether write ``i``'s condition
    failed, ``stored_items[i]`` is its item as stored (``None``: no such item)."""

    def __init__(self, refused: List[bool], stored_items: List[Any], after_unknown: bool) -> None:
        first = next((item for item, no in zip(stored_items, refused) if no), None)
        super().__init__(first, after_unknown)
        self.refused = refused
        self.stored_items = stored_items


class Failed(Exception):
    """The operation failed: ``message`` says why, ``key`` names the item (``None``: the operation's
    own), ``item`` is the stored item where the failure has one, ``code`` DynamoDB's error code
    when a request failed, ``table`` the table it failed on (``None``: the operation's own).
    Raise it ``from`` the cause."""

    def __init__(self, message: str, *, key: Optional[Mapping[str, Any]] = None, item: Any = None,
                 code: Optional[str] = None, table: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.item = item
        self.code = code
        self.table = table


F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def located(operation: str, table: Optional[str] = None) -> Iterator[None]:
    """Errors raised inside name ``operation`` and ``table`` where they do not already."""
    try:
        yield
    except PynamoDBTablesError as exc:
        exc.locate(operation, table)
        raise


@contextmanager
def failing_as(error: Type["PynamoDBTablesError"], operation: Optional[str],
               table: Optional[str] = None) -> Iterator[None]:
    """The one place where a failure becomes the public error: inside, a :class:`Failed` is raised as
    ``error`` naming ``operation``, the table (the failure's, else ``table``) and the failure's key,
    chaining its cause; the package's own errors are named where they are not already. ``operation``
    ``None``: the enclosing operation's (a step of it whose failures are ``error`` rather than the
    operation's own class)."""
    try:
        if operation is None:
            yield
        else:
            with located(operation, table):
                yield
    except Failed as failure:
        public = error(failure.message, operation=operation, table=failure.table or table, key=failure.key,
                       item=failure.item)
        public.code = failure.code
        raise public from failure.__cause__


@contextmanager
def operation(name: str, table: Optional[str], error: Type["PynamoDBTablesError"],
              key: Optional[Mapping[str, str]] = None) -> Iterator[None]:
    """One public operation: observed (one event, ``observing.observed``, on ``key`` if given, else on
    the first key it names), its failures raised as ``error`` (:func:`failing_as`)."""
    with observed(name, table, key), failing_as(error, name, table):
        yield


def table_operation(error: Type["PynamoDBTablesError"]) -> Callable[[F], F]:
    """A public table method, one :func:`operation` named after it on ``self.table_name``, whose
    failures are ``error``."""

    def decorate(method: F) -> F:
        name = method.__name__

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with operation(name, getattr(self, "table_name", None), error):
                return method(self, *args, **kwargs)

        return cast(F, wrapper)

    return decorate
