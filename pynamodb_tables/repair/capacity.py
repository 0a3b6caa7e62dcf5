"""The read and write units a repair spends, as DynamoDB reports them.

:func:`metered` asks DynamoDB for the consumed capacity of every request that the calling thread
sends on the given tables' clients (``ReturnConsumedCapacity=TOTAL``, added through botocore's
events) and adds up what the answers report: reads (``GetItem``, ``Query``, ``Scan``) as read
units, writes (``UpdateItem``, ``TransactWriteItems``...) as write units. Requests of other
threads on the same clients (a worker in the same process) are not counted.
"""

import contextlib
import itertools
import threading
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List

from ..store import BoundTable

#: Whether each operation's units are read or write units.
KINDS = {"GetItem": "read", "Query": "read", "Scan": "read", "BatchGetItem": "read", "TransactGetItems": "read",
         "UpdateItem": "write", "PutItem": "write", "DeleteItem": "write", "BatchWriteItem": "write",
         "TransactWriteItems": "write"}
_IDS = itertools.count()


@dataclass
class Capacity:
    """Units DynamoDB reported, and requests sent, while metered."""

    read_units: float = 0.0
    write_units: float = 0.0
    reads: int = 0
    writes: int = 0

    def add(self, kind: str, consumed: Any) -> None:
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        units = sum(float(entry.get("CapacityUnits", 0.0)) for entry in entries)
        if kind == "read":
            self.reads, self.read_units = self.reads + 1, self.read_units + units
        else:
            self.writes, self.write_units = self.writes + 1, self.write_units + units


@contextlib.contextmanager
def metered(*tables: BoundTable[Any]) -> Iterator[Capacity]:
    """A :class:`Capacity` that counts what this thread's requests on ``tables`` consume until the block ends."""
    capacity, thread = Capacity(), threading.get_ident()
    unique_id = f"pynamodb-tables-capacity-{next(_IDS)}"

    def ask(params: Dict[str, Any], model: Any, **_: Any) -> None:
        if threading.get_ident() == thread and model.name in KINDS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def count(parsed: Dict[str, Any], model: Any, **_: Any) -> None:
        if threading.get_ident() == thread and model.name in KINDS:
            capacity.add(KINDS[model.name], parsed.get("ConsumedCapacity"))

    clients: List[Any] = list({id(c): c for table in tables for c in table.clients()}.values())
    hooks = (("before-parameter-build.dynamodb", ask), ("after-call.dynamodb", count))
    for client in clients:
        for event, hook in hooks:
            client.meta.events.register(event, hook, unique_id=f"{unique_id}-{event}")
    try:
        yield capacity
    finally:
        for client in clients:
            for event, _hook in hooks:
                client.meta.events.unregister(event, unique_id=f"{unique_id}-{event}")
