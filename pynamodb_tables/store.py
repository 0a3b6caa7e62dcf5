"""A table's plumbing: its model bound at run time, its keys, and the requests it makes.

A table object (``JobTable``, ``RegionRequestTable``) keeps its :class:`Store` private; the
package's own modules reach it with :func:`store_of`. Items the caller builds are never written
directly: every write is an update with actions on a key, so only what an operation means to
change is sent. Every request goes through :meth:`Store.send`, the one send-and-retry mechanism
(:func:`~pynamodb_tables.retry.send`); a request that fails is a :class:`~pynamodb_tables.
failures.Failed` for the operation to raise as its public error:

- :meth:`Store.read`: a strongly consistent ``GetItem``; :meth:`Store.query`: every page of a
  hash key, strongly consistent;
- :meth:`Store.update`: one conditional ``UpdateItem`` returning the new item, or, when
  refused, :class:`~pynamodb_tables.failures.ConditionNotMet` carrying the stored item from the
  refusal itself (transactions: ``transactions.py``).
"""

import functools
import logging
import threading
import weakref
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Generic,
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
from .connection import ConnectionSettings, client_of, read_page, share_client, shared_connection, update_item
from .failures import ConditionNotMet, Failed
from .observing import name_key
from .retry import Attempt, Refused, SendError, send

if TYPE_CHECKING:
    from .base_table import BoundTable

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
             settings: Optional[ConnectionSettings] = None, reads: bool = False) -> T:
        """``request`` through the one send-and-retry mechanism; a request that failed is a failure
        naming ``key`` (a refusal, :class:`~pynamodb_tables.retry.Refused`, passes). ``reads``: the
        request is a read (for the capacity it consumes)."""
        try:
            return send(request, retries=(settings or self.settings).max_retry_attempts,
                        what=f"{self.table_name} {dict(key)}", reads=reads)
        except Refused:
            raise
        except SendError as exc:
            raise Failed(exc.explained(), key=key, code=exc.failure.code, table=self.table_name) from exc.__cause__

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
        items: List[M] = []
        start: Optional[Dict[str, Any]] = None
        while True:
            page = self.send(functools.partial(self._page, hash_key, start), key=key, reads=True)
            items += [cast(M, self.loaded(raw)) for raw in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def _page(self, hash_key: str, start: Optional[Dict[str, Any]], _: Attempt) -> Dict[str, Any]:
        return read_page(self.model, "query", hash_key=hash_key, start=start, consistent=True)

    def update(self, key: Mapping[str, str], actions: Sequence[Action], condition: Condition) -> M:
        """One conditional ``UpdateItem``; returns the item as stored afterwards.

        Raises :class:`~pynamodb_tables.failures.ConditionNotMet` (with the stored item, chaining
        DynamoDB's refusal) when the condition failed and nothing changed.
        """
        hash_key, range_key = self.key_values(key)
        actions = list(actions)
        try:
            answer = self.send(lambda _: update_item(self.model, hash_key, range_key, actions, condition), key=key)
        except Refused as refused:
            logger.debug("%s %s: condition not met", self.table_name, dict(key))
            stored = self.loaded(refused.failure.items[0] if refused.failure.items else None, key=key)
            raise ConditionNotMet(stored, refused.after_unknown) from refused.__cause__
        logger.debug("%s %s: written", self.table_name, dict(key))
        return cast(M, self.loaded(answer.get("Attributes"), key=key, written=True))


def store_of(table: "BoundTable[M]") -> "Store[M]":
    """The store of a table object (for the package's own modules: completions, repairs, the script)."""
    return table._store
