"""How a request reaches DynamoDB: connection settings, the calls PynamoDB's models do not make, and the
one send-and-retry loop every request goes through (:func:`send`).

Settings are PynamoDB's own (``connect_timeout_seconds``, ``read_timeout_seconds``, ``max_retry_attempts``,
``max_pool_connections``), given to a table's constructor, for every call it makes, transactions included.
The one extension at PynamoDB's connection level (this module is the only one that reaches its connection
objects): :func:`update_item`, an ``UpdateItem`` that returns the new item and, when its condition refuses
it, the stored item (``ReturnValuesOnConditionCheckFailure=ALL_OLD``). Every request asks for the capacity
it consumes (``ReturnConsumedCapacity=TOTAL``) and every call here returns DynamoDB's whole answer.

The package owns retries (botocore sends each request once; ``max_retry_attempts`` is the package's), so
it always knows when a request is sent again and why, and no retry budget is shared across calls. Each
failure is classified (:func:`classify`)::

    answer                               landed?   what send does                                 cause
    -----------------------------------  --------  ---------------------------------------------  ------------
    success                              yes       returns it
    condition refused the write          no        raises ConditionNotMet (with the stored item)
    throttled (also a transaction        no        backs off, sends again (fresh token)           throttled
      cancelled for throttling)
    transaction conflict (also a         no        backs off, sends again (fresh token)           conflict
      transaction cancelled by one)
    5xx (server error)                   maybe     backs off, sends again (same token)            server_error
    read timeout / connection cut        maybe     backs off, sends again (same token)            answer_lost
    connection refused / connect timeout no        backs off, sends again                         not_sent
    anything else (validation, auth...)  no        raises Failed

:func:`send` counts each request and resend (by cause, ``observing.RETRY_CAUSES``) and the capacity each
answer reports into the operation's record (``observing.tally``) and every meter of the thread
(``observing.metered``); DynamoDB reports no capacity with a failure, though it charges a refused write.
A transaction's client request token stays the same while an earlier send may have landed (DynamoDB
answers the resend with the first outcome) and is renewed once nothing can have landed. A plain write
sent again after an unknown outcome may be refused by its own landed copy: the refusal says so
(``after_unknown``), and each operation recognises its own write from the stored item.
"""

import functools
import logging
import math
import numbers
import os
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Type, TypeVar

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from pynamodb.connection import Connection
from pynamodb.connection.base import MetaTable
from pynamodb.constants import ALL_NEW, ALL_OLD, TOTAL, UPDATE_ITEM
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.settings import get_settings_value
from pynamodb.transactions import TransactWrite

from .observing import ConditionNotMet, Failed, meters, tally
from .validation import shown

#: The model runner's workers run 50 threads; a smaller pool would make them queue for connections.
MIN_POOL_CONNECTIONS = 50
#: The whole-number settings and their least values.
_COUNTS = {"max_retry_attempts": 0, "max_pool_connections": 1}


@dataclass(frozen=True)
class ConnectionSettings:
    """PynamoDB's connection settings, with pools sized for a worker process of many threads."""

    connect_timeout_seconds: float = float(get_settings_value("connect_timeout_seconds"))
    read_timeout_seconds: float = float(get_settings_value("read_timeout_seconds"))
    max_retry_attempts: int = int(get_settings_value("max_retry_attempts"))
    max_pool_connections: int = max(MIN_POOL_CONNECTIONS, int(get_settings_value("max_pool_connections")))

    @classmethod
    def from_keywords(cls, owner: str, keywords: Mapping[str, Any]) -> "ConnectionSettings":
        """Settings from a constructor's keywords: an unknown one is a ``TypeError``, a bad value a ``ValueError``."""
        names = [each.name for each in fields(cls)]
        unknown = sorted(set(keywords) - set(names))
        if unknown:
            raise TypeError(f"{owner}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                            f"connection settings are {', '.join(names)}")
        values: Dict[str, Any] = {}
        for name, value in keywords.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                usable = False
            elif name in _COUNTS:
                whole = int(value) if isinstance(value, numbers.Integral) else None
                usable = whole is not None and whole >= _COUNTS[name]
                values[name] = whole
            else:
                try:
                    values[name] = float(value)
                except OverflowError:  # (an int too large for a float)
                    values[name] = math.inf
                usable = math.isfinite(values[name]) and values[name] > 0
            if not usable:
                wanted = f"an int of at least {_COUNTS[name]}" if name in _COUNTS else "a number of seconds above 0"
                raise ValueError(f"{owner}(): {name} must be {wanted}, got {shown(value)}")
        return cls(**values)

    def meta(self) -> Dict[str, Any]:
        """The ``Meta`` attributes of a PynamoDB model using these settings (botocore sends once)."""
        return {"connect_timeout_seconds": self.connect_timeout_seconds,
                "read_timeout_seconds": self.read_timeout_seconds,
                "max_pool_connections": self.max_pool_connections,
                "max_retry_attempts": 0}


# -- where a table's requests go -----------------------------------------------------------------

_config_lock = threading.Lock()
_config_session: Optional[botocore.session.Session] = None


def _botocore_config() -> botocore.session.Session:
    """A botocore session to read configuration with (environment read at each call; files once)."""
    global _config_session
    with _config_lock:
        if _config_session is None:
            _config_session = botocore.session.get_session()
        return _config_session


def resolved_endpoint(host: Optional[str]) -> Optional[str]:
    """The endpoint URL a table's requests go to: ``host`` if given, else botocore's configured one
    (``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_ENDPOINT_URL``, the config file's, unless
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``); ``None``: AWS's own endpoint for the region."""
    if host is not None:
        if not isinstance(host, str) or not re.match(r"^https?://[^/\s]+", host):
            raise ValueError(f"host must be an endpoint URL such as 'http://localhost:8000', got {host!r}")
        return host
    session = _botocore_config()
    if str(session.get_config_variable("ignore_configured_endpoint_urls") or "").lower() in ("true", "1"):
        return None
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return os.environ[name]
    try:  # (the config file's, as botocore resolves them; its provider is not a public API)
        from botocore.configprovider import ConfiguredEndpointProvider

        configured = ConfiguredEndpointProvider(full_config=session.full_config,
                                                scoped_config=session.get_scoped_config(),
                                                client_name="dynamodb").provide()
    except Exception:
        configured = None
    return str(configured) if configured else None


def resolved_region(region: Optional[str]) -> Optional[str]:
    """The region a table's requests go to: ``region`` if given, else botocore's (``AWS_DEFAULT_REGION``,
    the profile's); ``None`` when none is configured (botocore then says so at the first request)."""
    if region is not None:
        if not isinstance(region, str) or not re.match(r"^[a-z0-9-]{1,64}$", region):
            raise ValueError(f"region must be an AWS region name such as 'us-east-1', got {region!r}")
        return region
    configured = _botocore_config().get_config_variable("region")
    return str(configured) if configured else None


@functools.lru_cache(maxsize=32)
def shared_connection(host: Optional[str], region: Optional[str], settings: ConnectionSettings) -> Connection:
    """The connection, and its one botocore client, that every table on this endpoint, region and
    settings sends on, transactions included (a client costs some 10 MB and 200 ms to make). Kept for
    the 32 combinations used last; a table made before keeps its own."""
    return Connection(host=host, region=region, **settings.meta())


class _OnSharedClient(Connection):
    """One table's PynamoDB connection (its own table description), sending on a shared client."""

    def __init__(self, shared: Connection, table: MetaTable, settings: ConnectionSettings) -> None:
        super().__init__(host=shared.host, region=shared.region, **settings.meta())
        self._shared = shared
        self.add_meta_table(table)

    @property
    def client(self) -> Any:
        return self._shared.client


def share_client(model: Type[Model], host: Optional[str], region: Optional[str], settings: ConnectionSettings) -> None:
    """Make the bound ``model`` send on the shared client of its endpoint, region and settings (no request)."""
    table = model._get_connection()
    table.connection = _OnSharedClient(shared_connection(host, region, settings),
                                       table.connection.get_meta_table(table.table_name), settings)


def client_of(model: Type[Model]) -> Any:
    """The botocore client behind a bound model (for tests and the benchmark to hook events on)."""
    return model._get_connection().connection.client


def update_item(
    model: Type[Model], hash_key: str, range_key: Optional[str], actions: Sequence[Action], condition: Condition
) -> Dict[str, Any]:
    """One ``UpdateItem``: DynamoDB's answer, whose ``Attributes`` are the new item (wire form).

    Raises botocore's ``ClientError`` as PynamoDB's connection does; when the condition refused
    the write, :func:`refused_item` finds the stored item on it.
    """
    table = model._get_connection()
    kwargs = table.connection.get_operation_kwargs(
        table.table_name, hash_key, range_key=range_key, actions=actions, condition=condition,
        return_values=ALL_NEW, return_values_on_condition_failure=ALL_OLD, return_consumed_capacity=TOTAL)
    return dict(table.connection.dispatch(UPDATE_ITEM, kwargs))


def transaction(connection: Connection, token: str) -> TransactWrite:
    """A ``TransactWrite`` on ``connection`` with a client request token, asking for its capacity."""
    return TransactWrite(connection=connection, client_request_token=token, return_consumed_capacity=TOTAL)


def commit(transaction: TransactWrite) -> Dict[str, Any]:
    """Send ``transaction``: DynamoDB's answer (PynamoDB's ``with`` form sends it and drops the answer)."""
    return dict(transaction._commit() or {})


def refused_item(exc: BaseException) -> Optional[Dict[str, Any]]:
    """The stored item a refused ``UpdateItem`` returned (wire form), or ``None`` (no such item).

    PynamoDB re-raises botocore's error without the item; the original is its ``__cause__``.
    """
    seen = exc
    while seen is not None:
        if isinstance(seen, ClientError) and "Item" in seen.response:
            return dict(seen.response["Item"])
        seen = seen.__cause__  # type: ignore[assignment]
    return None


def read_page(
    model: Type[Model],
    operation: str,
    *,
    hash_key: Optional[str] = None,
    range_key: Optional[str] = None,
    start: Optional[Dict[str, Any]] = None,
    consistent: bool = False,
    attributes: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """One ``get_item``, or one page of a ``query`` (of ``hash_key``) or ``scan``, of a bound model's table,
    in wire form with its consumed capacity: for tools that read items whole (attributes the model
    does not declare included) and count what they spend. PynamoDB builds the expressions."""
    table = model._get_connection()
    if operation == "get_item":
        return dict(table.get_item(str(hash_key), range_key, consistent_read=consistent, attributes_to_get=attributes))
    if operation == "query":
        return dict(table.query(str(hash_key), attributes_to_get=attributes, consistent_read=consistent,
                                exclusive_start_key=start, return_consumed_capacity="TOTAL"))
    if operation == "scan":
        return dict(table.scan(attributes_to_get=attributes, consistent_read=consistent, exclusive_start_key=start,  # type: ignore[arg-type]
                               return_consumed_capacity="TOTAL"))
    raise ValueError(f"not a read: {operation!r}")


logger = logging.getLogger("pynamodb_tables")

T = TypeVar("T")

#: Sends of a request that keeps losing races with transactions (or being throttled).
CONTENTION_ATTEMPTS = 30
BACKOFF_BASE_S = 0.025
BACKOFF_CAP_S = 1.0

THROTTLED = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                       "TransactionConflictException"})
SERVER_FAULTS = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure",
                           "TransactionInProgressException"})
#: Reasons for a cancelled transaction that mean "nothing landed, try again".
RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass
class Failure:
    """What one failed request tells: its code and message, whether it may have landed, what to do."""

    code: str
    message: str
    landed: Optional[bool]  # False: certainly not applied; None: unknown
    retry: bool
    contention: bool = False  # lost a race or was throttled: the contention budget, not the transport one
    refused: bool = False
    reasons: List[Optional[str]] = field(default_factory=list)  # a transaction's per-item codes
    items: List[Optional[Dict[str, Any]]] = field(default_factory=list)  # ... and stored items (wire form)
    cause: str = ""  # why it is sent again (one of observing.RETRY_CAUSES), when it is

    def summary(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


def _client_error(exc: BaseException) -> Optional[ClientError]:
    """The botocore error behind ``exc`` (PynamoDB wraps it, sometimes twice)."""
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            cause = seen.__cause__
            return cause if isinstance(cause, ClientError) and "ResponseMetadata" in cause.response else seen
        seen = seen.__cause__ or getattr(seen, "cause", None)
    return None


def _transport_error(exc: BaseException) -> Optional[BotoCoreError]:
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, BotoCoreError):
            return seen
        seen = seen.__cause__ or getattr(seen, "cause", None)
    return None


def classify(exc: BaseException) -> Optional[Failure]:
    """What ``exc``, raised by sending a request, tells; ``None`` if it is not a failed request."""
    client_error = _client_error(exc)
    if client_error is not None:
        error = client_error.response.get("Error") or {}
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "")
        status = (client_error.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if isinstance(exc, TransactWriteError) or code == "TransactionCanceledException":
            reasons = [reason.code if reason is not None else None
                       for reason in getattr(exc, "cancellation_reasons", [])]
            items = [reason.raw_item if reason is not None else None
                     for reason in getattr(exc, "cancellation_reasons", [])]
            if code == "TransactionCanceledException":
                refused = "ConditionalCheckFailed" in reasons
                again = not refused and bool(set(filter(None, reasons))) \
                    and set(filter(None, reasons)) <= RETRYABLE_REASONS
                return Failure(code, message, landed=False, retry=again, contention=again, refused=refused,
                               reasons=reasons, items=items,
                               cause="conflict" if "TransactionConflict" in reasons else "throttled")
        if code == CONDITION_FAILED:
            return Failure(code, message, landed=False, retry=False, refused=True, items=[refused_item(exc)])
        if code in THROTTLED:
            return Failure(code, message, landed=False, retry=True, contention=True,
                           cause="conflict" if code == "TransactionConflictException" else "throttled")
        if code in SERVER_FAULTS or (isinstance(status, int) and status >= 500):
            return Failure(code, message, landed=None, retry=True, cause="server_error")
        return Failure(code, message, landed=False, retry=False)
    transport = _transport_error(exc)
    if transport is not None:
        name = type(transport).__name__
        if isinstance(transport, BotocoreConnectionError):  # never reached DynamoDB
            return Failure(name, str(transport), landed=False, retry=True, cause="not_sent")
        if isinstance(transport, HTTPClientError):  # sent; the answer was lost
            return Failure(name, str(transport), landed=None, retry=True, cause="answer_lost")
        return Failure(name, str(transport), landed=False, retry=False)  # credentials, parameters...
    if isinstance(exc, PynamoDBException):
        return Failure(type(exc).__name__, str(exc), landed=None, retry=False)
    return None


#: What every backoff sleeps with (the send loop's and the contention driver's): replaced in tests by a
#: sleeper that records the delays instead of sleeping them.
sleep: Callable[[float], None] = time.sleep


def backoff_delay(attempt: int) -> float:
    """A full-jitter exponential delay before send ``attempt + 2``: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


def backoff(attempt: int) -> None:
    """Sleep a full-jitter exponential delay before send ``attempt + 2`` (through :data:`sleep`)."""
    sleep(backoff_delay(attempt))


class Attempt:
    """One send of a request: its number and, for transactions, its client request token."""

    def __init__(self) -> None:
        self.number = 0
        self.token = str(uuid.uuid4())


def explained(failure: Failure, attempts: int) -> str:
    """One line for a request that failed: DynamoDB's code and message, and how often it was sent."""
    if failure.retry:  # kept failing until the retries ran out
        return f"DynamoDB did not answer: {failure.summary()} (sent {attempts} times)"
    return f"DynamoDB {failure.summary()}"


def send(request: Callable[[Attempt], T], *, retries: int, what: str,
         refusal: Callable[[Failure, bool], ConditionNotMet], reads: bool = False,
         key: Optional[Mapping[str, Any]] = None, table: Optional[str] = None) -> T:
    """Send ``request`` until DynamoDB answers it; up to ``retries`` resends after transport
    faults and up to :data:`CONTENTION_ATTEMPTS` after throttling or lost races.

    Raises the operations' own family (``observing.py``): ``refusal(failure, after_unknown)`` (a
    :class:`~pynamodb_tables.observing.ConditionNotMet`, carrying the stored item as its caller loads
    it) when a condition refused it, and :class:`~pynamodb_tables.observing.Failed` naming
    ``key`` and ``table`` when it failed for good; any other exception (not a failed request) passes
    through unchanged. ``reads``: the request is a read (the capacity it consumes counts as read
    units where DynamoDB does not say).
    """
    record, metering = tally(), meters()
    attempt = Attempt()
    transport = contention = 0
    after_unknown = False
    while True:
        if record is not None:
            record.sends += 1
        for meter in metering:
            meter.sent(reads=reads)
        try:
            answer = request(attempt)
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if failure.refused:
                raise refusal(failure, after_unknown) from exc
            if failure.landed is None:
                after_unknown = True
            elif not after_unknown:
                attempt.token = str(uuid.uuid4())  # nothing of this request landed: a new token is safe
            if failure.retry and failure.contention and contention < CONTENTION_ATTEMPTS:
                contention += 1
                delay_index = contention
            elif failure.retry and not failure.contention and transport < retries:
                transport += 1
                delay_index = transport
            else:
                raise Failed(explained(failure, attempt.number + 1), key=key, code=failure.code, table=table) from exc
            logger.debug("%s: %s; sending again (attempt %d)", what, failure.code, attempt.number + 2)
            if record is not None:
                record.retries[failure.cause] += 1
            backoff(delay_index - 1)
            attempt.number += 1
        else:
            if isinstance(answer, dict) and (record is not None or metering):
                capacity = answer.get("ConsumedCapacity")
                if record is not None:
                    record.consumed(capacity, reads=reads)
                for meter in metering:
                    meter.consumed(capacity, reads=reads)
            return answer


def describe_failure(exc: BaseException) -> str:
    """One line for any exception raised by a DynamoDB call: its code and message where it has one."""
    failure = classify(exc)
    return failure.summary() if failure is not None else f"{type(exc).__name__}: {exc}"
