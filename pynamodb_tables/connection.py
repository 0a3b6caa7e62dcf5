"""How the tables reach DynamoDB: connection settings, and the calls PynamoDB's models do not make.

Settings are PynamoDB's own (``connect_timeout_seconds``, ``read_timeout_seconds``,
``max_retry_attempts``, ``max_pool_connections``), given to a table's constructor, and apply
to every call it makes, transactions included. The package owns retries (``retry.py``), so
botocore is configured to send each request once; ``max_retry_attempts`` is the package's.

The one extension at PynamoDB's connection level: :func:`update_item`, an ``UpdateItem`` that
returns the new item and, when its condition refuses it, the stored item
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``), which PynamoDB's ``Model.update`` does not
ask for. This module is the only one that reaches PynamoDB's connection objects.

Every request asks for the capacity it consumes (``ReturnConsumedCapacity=TOTAL``: said here
where PynamoDB's call takes it, added by PynamoDB's connection to every other request), and
every call here returns DynamoDB's whole answer, with its ``ConsumedCapacity``, so that the
send loop can count it (``retry.send``).
"""

import functools
import math
import numbers
import os
import re
import threading
from dataclasses import dataclass, fields
from typing import Any, Dict, Mapping, Optional, Sequence, Type

import botocore.session
from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.connection.base import MetaTable
from pynamodb.constants import ALL_NEW, ALL_OLD, TOTAL, UPDATE_ITEM
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.settings import get_settings_value
from pynamodb.transactions import TransactWrite

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
