"""Meters one run's requests to the job and region request tables: calls per operation, read and write units.

``Meter(tables).install()`` wraps botocore's ``Session.create_client``, so that every DynamoDB client made
afterwards in the process (the model runner's boto3 resources, PynamoDB's clients, the package's transaction
clients) gets two event hooks:

- ``before-parameter-build``: adds ``ReturnConsumedCapacity=TOTAL`` to every request that takes it (DynamoDB
  Local then answers with the units consumed, as DynamoDB does) and notes which metered tables it names;
- ``after-call``: counts the call by operation when it named a metered table, and adds the units the answer
  reports for those tables (a refused conditional write is counted too: it is a request).

Only calls made while ``meter.active`` is true are counted: the harness turns it on for the model runner's
work and off for its own reads of the tables.
"""

import threading
from collections import Counter
from typing import Any, Dict, FrozenSet, Iterable, List

import botocore.session

#: DynamoDB operations that read (their units are read units; every other operation's are write units).
READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
_TABLES = "compat_meter_tables"


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
    :meth:`install`."""

    def __init__(self, tables: Iterable[str]) -> None:
        self.tables = frozenset(tables)
        self.active = False
        self.calls: "Counter[str]" = Counter()
        self.read_units = 0.0
        self.write_units = 0.0
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
        if "ReturnConsumedCapacity" in model.input_shape.members and \
                params.get("ReturnConsumedCapacity") in (None, "NONE"):
            params["ReturnConsumedCapacity"] = "TOTAL"
        context[_TABLES] = tables_named(params) & self.tables

    def _after_call(self, parsed: Dict[str, Any], model: Any, context: Dict[str, Any], **_: Any) -> None:
        metered = context.get(_TABLES)
        if not self.active or not metered:
            return
        consumed = parsed.get("ConsumedCapacity") or []
        entries: List[Dict[str, Any]] = consumed if isinstance(consumed, list) else [consumed]
        read = write = 0.0
        for entry in entries:
            if entry.get("TableName") not in metered:
                continue
            if "ReadCapacityUnits" in entry or "WriteCapacityUnits" in entry:
                read += float(entry.get("ReadCapacityUnits", 0.0))
                write += float(entry.get("WriteCapacityUnits", 0.0))
            elif model.name in READS:
                read += float(entry.get("CapacityUnits", 0.0))
            else:
                write += float(entry.get("CapacityUnits", 0.0))
        with self._lock:
            self.calls[model.name] += 1
            self.read_units += read
            self.write_units += write

    def figures(self) -> Dict[str, Any]:
        """What was counted: calls by operation, their total, read and write units."""
        with self._lock:
            return {"calls": dict(sorted(self.calls.items())), "total_calls": sum(self.calls.values()),
                    "read_units": round(self.read_units, 1), "write_units": round(self.write_units, 1)}
