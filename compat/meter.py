"""Meters one run's requests to the job and region request tables: calls per operation, read and write units.

``Meter(tables).install()`` wraps botocore's ``Session.create_client``, so that every DynamoDB client made
afterwards in the process (the model runner's boto3 resources, PynamoDB's clients, the package's transaction
clients) gets two event hooks:

- ``before-parameter-build``: adds ``ReturnConsumedCapacity=TOTAL`` to every request that takes it (DynamoDB
  Local then answers with the units consumed, as DynamoDB does) and notes whether it names a metered table;
- ``after-call``: counts the call by operation when it did, and adds the units its answer reports, as read or
  write units by operation (``observing.Capacity``, as the package's own ``observing.metered`` counts a repair's
  requests in its send loop). A refused conditional write is counted too: it is a request.

Only calls made while ``meter.active`` is true are counted: the harness turns it on for the model runner's
work and off for its own reads of the tables.
"""

import threading
from collections import Counter
from typing import Any, Dict, FrozenSet, Iterable

import botocore.session

from pynamodb_tables.observing import Capacity

_METERED = "compat_meter_metered"
#: Whether each operation's units are read or write units.
KINDS = {"GetItem": "read", "Query": "read", "Scan": "read", "BatchGetItem": "read", "TransactGetItems": "read",
         "UpdateItem": "write", "PutItem": "write", "DeleteItem": "write", "BatchWriteItem": "write",
         "TransactWriteItems": "write"}


def tables_named(params: Dict[str, Any]) -> FrozenSet[str]:
    """The tables a DynamoDB request names: its ``TableName``, a batch's ``RequestItems``, a transaction's
    items."""
    names = set()
    if isinstance(params.get("TableName"), str):
        names.add(params["TableName"])
    names.update(params.get("RequestItems") or {})
    for entry in params.get("TransactItems") or []:
        names.update(action["TableName"] for action in entry.values() if isinstance(action, dict)
                     and "TableName" in action)
    return frozenset(names)


class Meter:
    """Calls per operation and units consumed on ``tables``, from every DynamoDB client made after
    :meth:`install`, on every thread."""

    def __init__(self, tables: Iterable[str]) -> None:
        self.tables = frozenset(tables)
        self.active = False
        self.calls: Counter[str] = Counter()
        self.capacity = Capacity()
        self._lock = threading.Lock()

    def install(self) -> "Meter":
        create_client = botocore.session.Session.create_client
        meter = self

        def metered_create_client(session: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
            client = create_client(session, *args, **kwargs)
            if client.meta.service_model.service_name == "dynamodb":
                client.meta.events.register("before-parameter-build.dynamodb", meter._before_parameter_build)
                client.meta.events.register("after-call.dynamodb", meter._after_call)
            return client

        botocore.session.Session.create_client = metered_create_client  # type: ignore[method-assign]
        return self

    def _before_parameter_build(self, params: Dict[str, Any], model: Any, context: Dict[str, Any],
                                **_: Any) -> None:
        if model.name in KINDS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        context[_METERED] = bool(tables_named(params) & self.tables)

    def _after_call(self, parsed: Dict[str, Any], model: Any, context: Dict[str, Any], **_: Any) -> None:
        if not self.active or not context.get(_METERED):
            return
        with self._lock:
            self.calls[model.name] += 1
            if model.name in KINDS:
                self.capacity.count(parsed.get("ConsumedCapacity"), reads=KINDS[model.name] == "read")

    def figures(self) -> Dict[str, Any]:
        """What was counted: calls by operation, their total, read and write units."""
        with self._lock:
            return {"calls": dict(sorted(self.calls.items())), "total_calls": sum(self.calls.values()),
                    "read_units": round(self.capacity.read_units, 1),
                    "write_units": round(self.capacity.write_units, 1)}
