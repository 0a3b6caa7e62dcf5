"""How a repair reads: every job of the job table page after page (``--all``), the jobs a repair works
on, and the read and write units its requests spent, as DynamoDB reports them.

The scan is eventually consistent and projects ``image_id`` only (the cheapest read of the
whole table); each job is then read strongly consistent by the repair itself. Each page is
sent, and retried, on its own through the package's one send-and-retry mechanism.

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
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

from .. import validation
from ..connection import read_page
from ..errors import GetImageRequestItemException
from ..job_table import JobItem, JobTable
from ..operations import failing_as
from ..store import BoundTable, store_of

Page = Dict[str, Any]


def paginate(read: Callable[[Optional[Dict[str, Any]]], Page]) -> Iterator[Page]:
    """Every page of a scan or query: ``read(start)`` sends one page from ``start`` (``None``: the first)."""
    start: Optional[Dict[str, Any]] = None
    while True:
        page = read(start)
        yield page
        if not page.get("LastEvaluatedKey"):
            return
        start = page["LastEvaluatedKey"]


def all_image_ids(job_table: JobTable) -> Iterator[str]:
    """The ``image_id`` of every job in the job table, in scan order."""
    store = store_of(job_table)

    def read(start: Optional[Dict[str, Any]]) -> Page:
        with failing_as(GetImageRequestItemException, "scan", store.table_name):
            return store.send(lambda _: read_page(store.model, "scan", start=start, attributes=["image_id"]),
                              key={}, reads=True)

    for page in paginate(read):
        for raw in page.get("Items", []):
            yield str(raw["image_id"]["S"])


def jobs_to_repair(job_table: JobTable, image_ids: Optional[Iterable[str]]) -> Iterator[str]:
    """``image_ids`` (each once, in order; every one checked before any is repaired), or every job of the
    table when ``None``."""
    if image_ids is None:
        return all_image_ids(job_table)
    given = [validation.require_key(image_id, "image_id") for image_id in image_ids]
    return iter(dict.fromkeys(given))


def read_job(job_table: JobTable, image_id: str, operation: str, *, listed: bool) -> Optional[JobItem]:
    """The job (strongly consistent). An unknown image is an error when it was asked for by id
    (``listed=False``); a job the scan listed that is gone since (its time to live) is ``None``."""
    store = store_of(job_table)
    key = store.key(image_id)
    with failing_as(GetImageRequestItemException, operation, store.table_name):
        job = store.read(key)
    if job is None and not listed:
        raise GetImageRequestItemException(f"unknown image {image_id!r}: no job item", operation=operation,
                                           table=job_table.table_name, key=key)
    return job


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
