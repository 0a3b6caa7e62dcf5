"""A table's plumbing: its model bound at run time, its keys, the requests it makes, transactions,
and the one driver of every conditional write.

- :class:`BoundTable`: what both tables share in their public face (a name, an endpoint, a region,
  connection settings, the bound PynamoDB model and its clients). A table binds its item model to a
  table name, endpoint, region and settings by deriving a subclass with its own ``Meta`` (cached, so
  any number of tables can be used side by side in one process).
- :class:`Store`: the table's private plumbing, reached by the package's own modules with
  :func:`store_of`. Items the caller builds are never written directly: every write is an update
  with actions on a key, so only what an operation means to change is sent. Every request goes
  through :meth:`Store.send`, the one send-and-retry mechanism (:func:`~pynamodb_tables.connection.send`);
  a request that fails is a :class:`~pynamodb_tables.observing.Failed` for the operation to raise as
  its public error. :meth:`Store.read`: a strongly consistent ``GetItem``; :meth:`Store.query`: every
  page of a hash key, strongly consistent; :meth:`Store.update`: one conditional ``UpdateItem``
  returning the new item, or, when refused, :class:`~pynamodb_tables.observing.ConditionNotMet`
  carrying the stored item from the refusal itself.
- :func:`transact`: one ``TransactWriteItems`` with a client request token, all or nothing.
- :func:`settle`: decide, write on condition, decide again from the refusal. An operation supplies
  only its decision, a step that takes what is known of the item (:class:`Seen`), writes on a
  condition that holds only in that state, and returns its result. Its write refused, the step is
  taken again on the item as the refusal returned it (DynamoDB sends it back: no read), after a
  backoff from the second refusal on, up to :data:`~pynamodb_tables.connection.CONTENTION_ATTEMPTS`
  times. The step raises the operation's own errors (the region already succeeded, the job
  ended...) when the item it is given says so.
"""

import logging
import os
import re
import threading
import weakref
from dataclasses import dataclass, replace
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    cast,
)

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from . import validation
from .connection import (
    CONTENTION_ATTEMPTS,
    Attempt,
    ConnectionSettings,
    Failure,
    backoff,
    client_of,
    commit,
    read_page,
    resolved_endpoint,
    resolved_region,
    send,
    share_client,
    shared_connection,
    transaction,
    update_item,
)
from .errors import ConfigurationError
from .observing import ConditionNotMet, Failed, TransactionRefused, name_key

logger = logging.getLogger("pynamodb_tables")

M = TypeVar("M", bound=Model)
T = TypeVar("T")


_bound: "weakref.WeakValueDictionary[Tuple[Any, ...], Type[Model]]" = weakref.WeakValueDictionary()
_bound_lock = threading.Lock()


def bound_model(
    base: Type[M], table_name: str, host: Optional[str], region: Optional[str], settings: ConnectionSettings
) -> Type[M]:
    """``base`` bound to one table, endpoint, region and connection settings: one class per combination
    while a table object uses it (held weakly, so a process that opens many tables keeps only those it
    still uses), sending on the client shared by every table of that endpoint, region and settings."""
    key = (base, table_name, host, region, settings)
    with _bound_lock:
        model = _bound.get(key)
        if model is None:
            meta = type("Meta", (), {"table_name": table_name, "host": host, "region": region, **settings.meta()})
            namespace = {"Meta": meta, "__module__": base.__module__, "__qualname__": base.__qualname__}
            model = type(base.__name__, (base,), namespace)
            share_client(model, host, region, settings)
            _bound[key] = model
        return cast(Type[M], model)


class Store(Generic[M]):
    """One table's model, keys and requests."""

    def __init__(self, item_class: Type[M], table_name: str, host: Optional[str], region: Optional[str],
                 settings: ConnectionSettings, key_names: Tuple[str, ...], missing: str) -> None:
        self.table_name = table_name
        self.host = host
        self.region = region
        self.settings = settings
        self.key_names = key_names
        self.missing = missing  # what an operation on an unknown key reports
        self.model: Type[M] = bound_model(item_class, table_name, host, region, settings)

    def clients(self) -> List[Any]:
        """The botocore clients this table sends on: its own, and its transactions'."""
        clients = [client_of(self.model), shared_connection(self.host, self.region, self.settings).client]
        return list({id(client): client for client in clients}.values())

    # -- keys -------------------------------------------------------------------------------------

    def key(self, *values: Any) -> Dict[str, str]:
        """The key attributes by name, each checked (a non-empty string within DynamoDB's key size);
        the first key an operation names is its own (its event's)."""
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

    # -- requests ---------------------------------------------------------------------------------

    def loaded(self, raw: Optional[Dict[str, Any]], *, key: Optional[Mapping[str, Any]] = None,
               written: bool = False) -> Optional[M]:
        """An item from its wire form (``None`` for none): the one place stored items are loaded.
        An item that cannot be read (a value another writer stored in a form the model cannot take,
        such as a TTL in other units) is a failure naming it, chaining why."""
        if not raw:
            return None
        try:
            return self.model.from_raw_data(raw)
        except Exception as exc:  # any failure to load is this one: the stored item cannot be read
            landed = "written, but " if written else ""
            where = dict(key) if key else {name: next(iter(raw.get(name, {}).values()), None)
                                           for name in self.key_names}
            raise Failed(f"{landed}the stored item cannot be read: {type(exc).__name__}: {exc}", key=where,
                         table=self.table_name) from exc

    def send(self, request: Callable[[Attempt], T], *, key: Mapping[str, Any],
             settings: Optional[ConnectionSettings] = None, reads: bool = False,
             refusal: Optional[Callable[[Failure, bool], ConditionNotMet]] = None) -> T:
        """``request`` through the one send-and-retry mechanism, its failure naming ``key`` and this table;
        ``refusal``: the refusal it raises when a condition refused it (default: the stored item loaded).
        ``reads``: the request is a read (for the capacity it consumes)."""
        def refused(failure: Failure, after_unknown: bool) -> ConditionNotMet:
            logger.debug("%s %s: condition not met", self.table_name, dict(key))
            return ConditionNotMet(self.loaded(failure.items[0] if failure.items else None, key=key), after_unknown)

        return send(request, retries=(settings or self.settings).max_retry_attempts,
                    what=f"{self.table_name} {dict(key)}", reads=reads, key=key, table=self.table_name,
                    refusal=refusal or refused)

    def read(self, key: Mapping[str, str]) -> Optional[M]:
        """The stored item (strongly consistent read), or ``None`` when there is none."""
        hash_key, range_key = self.key_values(key)
        answer = self.send(lambda _: read_page(self.model, "get_item", hash_key=hash_key, range_key=range_key,
                                               consistent=True), key=key, reads=True)
        return self.loaded(answer.get("Item"), key=key)

    def existing(self, key: Mapping[str, str], cause: Optional[BaseException] = None) -> M:
        """The stored item, which must exist (else a failure: unknown, chaining ``cause``)."""
        stored = self.read(key)
        if stored is None:
            raise self.unknown(key) from cause
        return stored

    def unknown(self, key: Mapping[str, str]) -> Failed:
        """The failure of an operation on ``key``, which has no item (raise it ``from`` the cause)."""
        return Failed(self.missing, key=key, table=self.table_name)

    def query(self, key: Mapping[str, str]) -> List[M]:
        """Every item under ``key``'s hash key, all pages, strongly consistent."""
        hash_key = key[self.key_names[0]]

        def page(start: Optional[Dict[str, Any]]) -> Dict[str, Any]:
            return self.send(lambda _: read_page(self.model, "query", hash_key=hash_key, start=start, consistent=True),
                             key=key, reads=True)

        return [cast(M, self.loaded(raw)) for each in paginate(page) for raw in each.get("Items", [])]


    def update(self, key: Mapping[str, str], actions: Sequence[Action], condition: Condition) -> M:
        """One conditional ``UpdateItem``; returns the item as stored afterwards.

        Raises :class:`~pynamodb_tables.observing.ConditionNotMet` (with the stored item, chaining
        DynamoDB's refusal) when the condition failed and nothing changed.
        """
        hash_key, range_key = self.key_values(key)
        actions = list(actions)
        answer = self.send(lambda _: update_item(self.model, hash_key, range_key, actions, condition), key=key)
        logger.debug("%s %s: written", self.table_name, dict(key))
        return cast(M, self.loaded(answer.get("Attributes"), key=key, written=True))


def paginate(page: Callable[[Optional[Dict[str, Any]]], Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
    """Every page of a query or scan, in order: ``page(start)`` sends one from ``start`` (``None``: the first),
    each on its own (a throttled page is sent again, not the whole read)."""
    start: Optional[Dict[str, Any]] = None
    while True:
        answer = page(start)
        yield answer
        start = answer.get("LastEvaluatedKey")
        if not start:
            return


def store_of(table: "BoundTable[M]") -> "Store[M]":
    """The store of a table object (for the package's own modules: completions, repairs, the script)."""
    return table._store



_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")


class BoundTable(Generic[M]):
    """A DynamoDB table holding items of one model; subclasses add the table's operations."""

    _env_var: str
    _key_names: Tuple[str, ...]
    _missing: str  # what an operation on an unknown key reports

    def __init__(
        self,
        item_class: Type[M],
        table_name: Optional[str] = None,
        *,
        host: Optional[str] = None,
        region: Optional[str] = None,
        **connection_settings: Any,
    ) -> None:
        name = table_name if table_name is not None else os.environ.get(self._env_var)
        if name is None:
            raise ConfigurationError(f"no table name: pass table_name or set {self._env_var}")
        if not isinstance(name, str) or not _TABLE_NAME.match(str(name)):  # (str(): a mock may pass for a str)
            raise ConfigurationError(
                f"invalid table name {name!r}: 3 to 255 characters of letters, digits, '_', '-' and '.'"
            )
        owner = type(self).__name__
        try:  # (an unknown keyword is a TypeError, as for any function)
            settings = ConnectionSettings.from_keywords(owner, connection_settings)
            host, region = resolved_endpoint(host), resolved_region(region)
        except ValueError as exc:
            raise ConfigurationError(str(exc) if str(exc).startswith(owner) else f"{owner}(): {exc}") from None
        self._store: Store[M] = Store(item_class, name, host, region, settings, self._key_names, self._missing)

    @property
    def table_name(self) -> str:
        """The DynamoDB table's name."""
        return self._store.table_name

    @property
    def host(self) -> Optional[str]:
        """The endpoint URL: the one given, else botocore's configured one (``AWS_ENDPOINT_URL_DYNAMODB``...),
        resolved when the table object was made; ``None``: AWS's own endpoint for the region."""
        return self._store.host

    @property
    def region(self) -> Optional[str]:
        """The region: the one given, else botocore's (``AWS_DEFAULT_REGION``...), resolved when the table
        object was made (``None``: none configured)."""
        return self._store.region

    @property
    def settings(self) -> ConnectionSettings:
        """The connection settings every call of this table uses."""
        return self._store.settings

    @property
    def model(self) -> Type[M]:
        """The PynamoDB model bound to this table (``table.model.create_table(...)`` in tests)."""
        return self._store.model

    def clients(self) -> List[Any]:
        """The botocore clients this table sends on: its own, and its transactions' (to hook events on)."""
        return self._store.clients()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.table_name!r})"




@dataclass
class Write:
    """One write of a transaction: an update of ``key`` in ``store``'s table (or, without actions, a check)."""

    store: Store[Any]
    key: Mapping[str, str]
    actions: Sequence[Action]
    condition: Condition


def transact(writes: Sequence[Write], *, settings_from: Optional[Store[Any]] = None) -> None:
    """One ``TransactWriteItems`` of ``writes`` with a client request token: all or nothing.

    Botocore's and the package's resends reuse the token while an earlier send may have
    landed, so DynamoDB applies the transaction once. Raises :class:`~pynamodb_tables.observing.
    TransactionRefused` when a condition failed (nothing changed), a failure for any other. The
    connection settings are those of ``settings_from`` (default: the first write's table).
    """
    owner = settings_from or writes[0].store
    connection = shared_connection(owner.host, owner.region, owner.settings)
    first = writes[0]
    # PynamoDB sends condition checks before updates; DynamoDB answers each item in that order.
    sent = sorted(range(len(writes)), key=lambda index: bool(writes[index].actions))

    def send_once(attempt: Attempt) -> Dict[str, Any]:
        writing = transaction(connection, attempt.token)
        for write in (writes[index] for index in sent):
            if write.actions:
                writing.update(write.store.instance(write.key), list(write.actions), write.condition,
                               return_values="ALL_OLD")
            else:
                hash_key, range_key = write.store.key_values(write.key)
                writing.condition_check(write.store.model, hash_key, range_key, condition=write.condition)
        return commit(writing)

    def refused(failure: Failure, after_unknown: bool) -> TransactionRefused:
        reasons: List[Optional[str]] = [None] * len(writes)
        items: List[Optional[Dict[str, Any]]] = [None] * len(writes)
        for position, index in enumerate(sent):
            if position < len(failure.reasons):
                reasons[index], items[index] = failure.reasons[position], failure.items[position]
        stored = [write.store.loaded(raw, key=write.key) for write, raw in zip(writes, items)]
        return TransactionRefused([reason == "ConditionalCheckFailed" for reason in reasons], stored, after_unknown)

    first.store.send(send_once, key=first.key, settings=owner.settings, refusal=refused)
    logger.debug("%s %s: transaction written", first.store.table_name, dict(first.key))




@dataclass(frozen=True)
class Seen(Generic[M]):
    """What a step knows of the item."""

    item: Optional[M] = None  # the item as last seen (``None``: none is stored, where ``known``)
    known: bool = False  # whether ``item`` came from DynamoDB (else: nothing read yet, or the caller's copy)
    refusals: int = 0  # writes refused so far
    moved_on: int = 0  # ... by another writer's progress that left the step's decision standing
    after_unknown: bool = False  # an earlier send of a write may have landed (its answer was lost)
    cause: Optional[BaseException] = None  # DynamoDB's last refusal

    def read(self, item: Optional[M]) -> "Seen[M]":
        """The same, with ``item`` read from DynamoDB."""
        return replace(self, item=item, known=True)


def settle(step: Callable[[Seen[M]], T], seen: Optional[Seen[M]] = None, *, gave_up: str,
           key: Optional[Mapping[str, Any]] = None, same_decision: Optional[Callable[[Any, Any], bool]] = None,
           retry: bool = True) -> T:
    """Take ``step`` until its write lands; on a refusal, again on the item the refusal returned.

    ``same_decision(before, after)``: whether a refusal left the decision standing (counted in
    :attr:`Seen.moved_on`, so that a step can write on a weaker condition when another writer keeps
    moving the item on). ``retry=False``: a refusal is raised as it is (the caller acts only on the
    item as it was seen). After :data:`CONTENTION_ATTEMPTS` refusals: a failure saying ``gave_up``.
    """
    seen = seen or Seen()
    for attempt in range(CONTENTION_ATTEMPTS):
        try:
            return step(seen)
        except ConditionNotMet as refused:
            if not retry:
                raise
            moved_on = (same_decision is not None and seen.item is not None and refused.stored is not None
                        and same_decision(seen.item, refused.stored))
            seen = Seen(refused.stored, True, seen.refusals + 1, seen.moved_on + int(moved_on),
                        seen.after_unknown or refused.after_unknown, refused.__cause__)
            if attempt:  # (the first refusal carries the item as it is now: decided again at once)
                backoff(attempt - 1)
    raise Failed(f"{gave_up}: it kept changing ({CONTENTION_ATTEMPTS} writes refused)", key=key) from seen.cause
