"""What both tables share: binding a model to a table at run time, and the three requests they make.

A table object binds its item model to a table name, endpoint, region and connection
settings by deriving a subclass with its own ``Meta`` (cached, so any number of tables can be
used side by side in one process). Items the caller builds are never written directly: every
write is an update with actions on a key, so only what a method means to change is sent.

Every request goes through :meth:`BoundTable.send`, the one send-and-retry mechanism
(:func:`~pynamodb_tables.retry.send`):

- :meth:`BoundTable.read`: a strongly consistent ``GetItem``;
- :meth:`BoundTable.update`: one conditional ``UpdateItem`` returning the new item, or, when
  refused, :class:`ConditionNotMet` carrying the stored item from the refusal itself;
- :func:`transact`: one ``TransactWriteItems`` with a client request token, refused with
  :class:`TransactionRefused` carrying each stored item.
"""

import functools
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, cast

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from . import validation
from .connection import (
    ConnectionSettings,
    client_of,
    commit,
    read_page,
    transaction,
    transaction_connection,
    update_item,
)
from .errors import ConfigurationError, PynamoDBTablesError
from .observing import name_key
from .retry import Attempt, Refused, SendError, send

logger = logging.getLogger("pynamodb_tables")

M = TypeVar("M", bound=Model)
T = TypeVar("T")

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")


@functools.cache
def bound_model(
    base: Type[M], table_name: str, host: Optional[str], region: Optional[str], settings: ConnectionSettings
) -> Type[M]:
    """``base`` bound to one table, endpoint, region and connection settings (one class per combination)."""
    meta = type("Meta", (), {"table_name": table_name, "host": host, "region": region, **settings.meta()})
    namespace = {"Meta": meta, "__module__": base.__module__, "__qualname__": base.__qualname__}
    return cast(Type[M], type(base.__name__, (base,), namespace))


def describe(exc: SendError) -> str:
    """One line for a request that failed: DynamoDB's code and message, and how often it was sent."""
    failure = exc.failure
    if failure.retry:  # kept failing until the retries ran out
        return f"DynamoDB did not answer: {failure.describe()} (sent {exc.attempts} times)"
    return f"DynamoDB {failure.describe()}"


class ConditionNotMet(PynamoDBTablesError):
    """A conditional write was refused and changed nothing; the operation decides what that means.

    ``stored`` is the item as the refusal found it (``None``: no such item), ``after_unknown``
    whether an earlier send of the same write may have landed (so the refusal may be its own).
    Raised only between a table's helpers and its operations.
    """

    def __init__(self, stored: Any, after_unknown: bool, **where: Any) -> None:
        super().__init__("condition not met", **where)
        self.stored = stored
        self.after_unknown = after_unknown


class TransactionRefused(ConditionNotMet):
    """A transaction cancelled by a condition: ``refused[i]`` tells whether write ``i``'s condition
    failed, ``stored_items[i]`` is its item as stored (``None``: no such item)."""

    def __init__(self, refused: List[bool], stored_items: List[Any], after_unknown: bool,
                 **where: Any) -> None:
        first = next((item for item, no in zip(stored_items, refused) if no), None)
        super().__init__(first, after_unknown, **where)
        self.refused = refused
        self.stored_items = stored_items


class BoundTable(Generic[M]):
    """A DynamoDB table holding items of one model; subclasses add the table's operations."""

    env_var: str
    key_names: Tuple[str, ...]
    missing: str  # what an operation on an unknown key reports

    def __init__(
        self,
        item_class: Type[M],
        table_name: Optional[str] = None,
        *,
        host: Optional[str] = None,
        region: Optional[str] = None,
        **connection_settings: Any,
    ) -> None:
        name = table_name if table_name is not None else os.environ.get(self.env_var)
        if name is None:
            raise ConfigurationError(f"no table name: pass table_name or set {self.env_var}")
        if not isinstance(name, str) or not _TABLE_NAME.match(name):
            raise ConfigurationError(
                f"invalid table name {name!r}: 3 to 255 characters of letters, digits, '_', '-' and '.'"
            )
        self.table_name: str = name
        self.host = host
        self.region = region
        self.settings = ConnectionSettings.from_keywords(type(self).__name__, connection_settings)
        self.model: Type[M] = bound_model(item_class, name, host, region, self.settings)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.table_name!r})"

    def clients(self) -> List[Any]:
        """The botocore clients this table sends on: its own, and its transactions' (to hook events on)."""
        return [client_of(self.model), transaction_connection(self.host, self.region, self.settings).client]

    # -- helpers for the table's operations ------------------------------------------------

    def key(self, *values: Any) -> Dict[str, str]:
        """The key attributes by name, each checked (a non-empty string within DynamoDB's key size).
        The first key an observed operation names is its event's."""
        key = validation.key_of(self.model, dict(zip(self.key_names, values)))
        name_key(key)
        return key

    def key_values(self, key: Mapping[str, str]) -> Tuple[str, Optional[str]]:
        """The hash key and range key (``None`` for a hash-only table) of ``key``."""
        values = [key[name] for name in self.key_names]
        return values[0], (values[1] if len(values) > 1 else None)

    def instance(self, key: Mapping[str, str]) -> M:
        """A key-only instance of the bound model: the target of an update."""
        model: Any = self.model  # (PynamoDB types the keyword arguments narrowly)
        return cast(M, model(**key))

    def error(
        self,
        error_cls: Type[PynamoDBTablesError],
        operation: str,
        key: Mapping[str, Any],
        message: str,
        item: Any = None,
    ) -> PynamoDBTablesError:
        """An error of ``error_cls`` naming this table, the operation and the key."""
        return error_cls(message, operation=operation, table=self.table_name, key=key, item=item)

    def failed(self, error_cls: Type[PynamoDBTablesError], operation: str, key: Mapping[str, Any],
               exc: SendError) -> PynamoDBTablesError:
        """``error_cls`` for a request that failed, carrying DynamoDB's code (raise it ``from exc.__cause__``)."""
        error = self.error(error_cls, operation, key, describe(exc))
        error.code = exc.failure.code
        return error

    def loaded(self, raw: Optional[Dict[str, Any]], *, operation: str, key: Mapping[str, Any],
               error: Type[PynamoDBTablesError], written: bool = False) -> Optional[M]:
        """An item from its wire form (``None`` for none): the one place stored items are loaded.
        An item that cannot be read (a value another writer stored in a form the model cannot take,
        such as a TTL in other units) is ``error``, naming it and chaining why."""
        if not raw:
            return None
        try:
            return self.model.from_raw_data(raw)
        except Exception as exc:  # any failure to load is this one: the stored item cannot be read
            landed = "written, but " if written else ""
            where = dict(key) if key else {name: next(iter(raw.get(name, {}).values()), None)
                                           for name in self.key_names}
            raise self.error(error, operation, where,
                             f"{landed}the stored item cannot be read: {type(exc).__name__}: {exc}") from exc

    def send(self, request: Callable[[Attempt], T], *, operation: str, key: Mapping[str, Any],
             error: Type[PynamoDBTablesError], settings: Optional[ConnectionSettings] = None,
             reads: bool = False) -> T:
        """``request`` through the one send-and-retry mechanism; a failure is ``error``, naming this
        table, the operation and the key (a refusal, :class:`~pynamodb_tables.retry.Refused`, passes).
        ``reads``: the request is a read (for the capacity it consumes)."""
        try:
            return send(request, retries=(settings or self.settings).max_retry_attempts,
                        what=f"{operation} {dict(key)}", reads=reads)
        except Refused:
            raise
        except SendError as exc:
            raise self.failed(error, operation, key, exc) from exc.__cause__

    def read(self, key: Mapping[str, str], *, operation: str, error: Type[PynamoDBTablesError]) -> Optional[M]:
        """The stored item (strongly consistent read), or ``None`` when there is none."""
        hash_key, range_key = self.key_values(key)
        answer = self.send(lambda _: read_page(self.model, "get_item", hash_key=hash_key, range_key=range_key,
                                               consistent=True), operation=operation, key=key, error=error,
                           reads=True)
        return self.loaded(answer.get("Item"), operation=operation, key=key, error=error)

    def query(self, key: Mapping[str, str], *, operation: str, error: Type[PynamoDBTablesError]) -> List[M]:
        """Every item under ``key``'s hash key, all pages, strongly consistent."""
        hash_key = key[self.key_names[0]]
        items: List[M] = []
        start: Optional[Dict[str, Any]] = None
        while True:
            page = self.send(functools.partial(self._page, hash_key, start), operation=operation, key=key,
                             error=error, reads=True)
            items += [cast(M, self.loaded(raw, operation=operation, key={}, error=error))
                      for raw in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def _page(self, hash_key: str, start: Optional[Dict[str, Any]], _: Attempt) -> Dict[str, Any]:
        return read_page(self.model, "query", hash_key=hash_key, start=start, consistent=True)

    def existing(
        self,
        key: Mapping[str, str],
        operation: str,
        error: Type[PynamoDBTablesError],
        cause: Optional[BaseException] = None,
    ) -> M:
        """The stored item, which must exist (else ``error``, chaining ``cause``)."""
        stored = self.read(key, operation=operation, error=error)
        if stored is None:
            raise self.error(error, operation, key, self.missing) from cause
        return stored

    def update(
        self,
        key: Mapping[str, str],
        actions: Sequence[Action],
        condition: Condition,
        *,
        operation: str,
        error: Type[PynamoDBTablesError],
    ) -> M:
        """One conditional ``UpdateItem``; returns the item as stored afterwards.

        Raises :class:`ConditionNotMet` (with the stored item, chaining DynamoDB's refusal)
        when the condition failed and nothing changed, ``error`` for any other failure.
        """
        hash_key, range_key = self.key_values(key)
        actions = list(actions)
        try:
            answer = self.send(lambda _: update_item(self.model, hash_key, range_key, actions, condition),
                               operation=operation, key=key, error=error)
        except Refused as refused:
            logger.debug("%s on %s %s: condition not met", operation, self.table_name, dict(key))
            stored = self.loaded(refused.failure.items[0] if refused.failure.items else None,
                                 operation=operation, key=key, error=error)
            raise ConditionNotMet(stored, refused.after_unknown, operation=operation, table=self.table_name,
                                  key=key) from refused.__cause__
        logger.debug("%s on %s %s: written", operation, self.table_name, dict(key))
        return cast(M, self.loaded(answer.get("Attributes"), operation=operation, key=key, error=error, written=True))


@dataclass
class Write:
    """One write of a transaction: an update of ``key`` in ``table`` (or, without actions, a check)."""

    table: BoundTable[Any]
    key: Mapping[str, str]
    actions: Sequence[Action]
    condition: Condition


def transact(
    writes: Sequence[Write],
    *,
    operation: str,
    error: Type[PynamoDBTablesError],
    settings_from: Optional[BoundTable[Any]] = None,
) -> None:
    """One ``TransactWriteItems`` of ``writes`` with a client request token: all or nothing.

    Botocore's and the package's resends reuse the token while an earlier send may have
    landed, so DynamoDB applies the transaction once. Raises :class:`TransactionRefused` when a
    condition failed (nothing changed), ``error`` for any other failure. The connection
    settings are those of ``settings_from`` (default: the first write's table).
    """
    owner = settings_from or writes[0].table
    connection = transaction_connection(owner.host, owner.region, owner.settings)
    first = writes[0]
    # PynamoDB sends condition checks before updates; DynamoDB answers each item in that order.
    sent = sorted(range(len(writes)), key=lambda index: bool(writes[index].actions))

    def send_once(attempt: Attempt) -> Dict[str, Any]:
        writing = transaction(connection, attempt.token)
        for write in (writes[index] for index in sent):
            if write.actions:
                writing.update(write.table.instance(write.key), list(write.actions), write.condition,
                               return_values="ALL_OLD")
            else:
                hash_key, range_key = write.table.key_values(write.key)
                writing.condition_check(write.table.model, hash_key, range_key, condition=write.condition)
        return commit(writing)

    try:
        first.table.send(send_once, operation=operation, key=first.key, error=error, settings=owner.settings)
    except Refused as refused:
        reasons: List[Optional[str]] = [None] * len(writes)
        items: List[Optional[Dict[str, Any]]] = [None] * len(writes)
        for position, index in enumerate(sent):
            if position < len(refused.failure.reasons):
                reasons[index], items[index] = refused.failure.reasons[position], refused.failure.items[position]
        stored = [write.table.loaded(raw, operation=operation, key=write.key, error=error)
                  for write, raw in zip(writes, items)]
        raise TransactionRefused([reason == "ConditionalCheckFailed" for reason in reasons], stored,
                                 refused.after_unknown, operation=operation, table=first.table.table_name,
                                 key=first.key) from refused.__cause__
    logger.debug("%s on %s %s: transaction written", operation, first.table.table_name, dict(first.key))
