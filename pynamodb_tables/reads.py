"""Reading the tables as stored: the one read API of the management script and the repairs.

Both read what any writer left (this package, or the model runner's own modules in a fleet being
moved over), so they read items whole, in wire form where they show them as stored:

- :func:`request`: one ``get_item``, or one page of a ``query`` or ``scan``, in wire form; each page
  is sent, and retried, on its own through the package's one send-and-retry mechanism (a throttled
  page is sent again, not the whole scan); :func:`pages`, :func:`items` and :func:`query_hash_key`
  page after page. A failure is the table's read error (``GetImageRequestItemException`` on the job
  table, ``GetRegionRequestItemException`` on the region table), naming the request, the table and
  the key, chaining DynamoDB's error.
- ``cost``: a :class:`~pynamodb_tables.observing.Capacity` the requests' units are added to,
  counted by the send loop where every operation's event counts its own (``observing.metered``).
- :func:`loaded`: an item from its wire form; :func:`read_job`: a job, strongly consistent;
  :func:`all_image_ids` and :func:`jobs_to_repair`: the jobs a repair works on (``--all``: a scan
  projecting ``image_id`` only, the cheapest read of the whole table).
- :func:`is_transient`: whether a failure means DynamoDB did not answer (waiting may mend it);
  :func:`describe_failure`: one line for any exception a DynamoDB call raised.
"""

import contextlib
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple, Type, Union

from . import validation
from .connection import classify, describe_failure, read_page
from .errors import GetImageRequestItemException, GetRegionRequestItemException, PynamoDBTablesError
from .job_table import JobItem, JobTable
from .observing import Capacity, failing_as, metered
from .region_request_table import RegionRequestTable
from .store import Store, paginate, store_of

__all__ = ["Table", "all_image_ids", "describe_failure", "is_transient", "items", "jobs_to_repair", "key_names",
           "loaded", "pages", "query_hash_key", "read_job", "request"]

#: Either table: what both show (a name, an endpoint, a region, settings, the bound model, its clients).
Table = Union[JobTable, RegionRequestTable]
Page = Dict[str, Any]


def _read_error(table: Table) -> Type[PynamoDBTablesError]:
    return GetImageRequestItemException if isinstance(table, JobTable) else GetRegionRequestItemException


def _store(table: Table) -> Store[Any]:
    return store_of(table)


def key_names(table: Table) -> Tuple[str, ...]:
    """The table's key attributes: the hash key, then the range key if it has one."""
    return _store(table).key_names


def request(table: Table, operation: str, cost: Optional[Capacity] = None, **parameters: Any) -> Page:
    """One ``operation`` (``get_item``, or a page of ``query`` or ``scan``) on ``table``; DynamoDB's answer
    in wire form (parameters: ``hash_key``, ``range_key``, ``start``, ``consistent``, ``attributes``)."""
    store = _store(table)
    hash_key = parameters.get("hash_key")
    key = {store.key_names[0]: hash_key} if hash_key is not None else {}
    meter = metered(capacity=cost) if cost is not None else contextlib.nullcontext()
    with failing_as(_read_error(table), operation, table.table_name), meter:
        return store.send(lambda _: read_page(store.model, operation, **parameters), key=key, reads=True)


def pages(table: Table, operation: str, cost: Optional[Capacity] = None, **parameters: Any) -> Iterator[Page]:
    """Every page of a ``scan`` or ``query``, in order, each sent (and retried) on its own."""
    return paginate(lambda start: request(table, operation, cost, start=start, **parameters))


def items(table: Table, operation: str, cost: Optional[Capacity] = None, **parameters: Any) -> Iterator[Page]:
    """Every item (wire form) a ``scan`` or ``query`` returns, page after page."""
    for page in pages(table, operation, cost, **parameters):
        yield from page.get("Items", [])


def query_hash_key(table: Table, value: str, cost: Optional[Capacity] = None, **parameters: Any) -> Iterator[Page]:
    """Every item under hash key ``value`` (wire form), page after page (``attributes=``: only those)."""
    return items(table, "query", cost, hash_key=value, **parameters)


def loaded(table: Table, raw: Page, operation: str) -> Any:
    """The item of ``raw`` (wire form) as the table's model; one that cannot be read is the table's read
    error, naming ``operation`` and the item's key."""
    with failing_as(_read_error(table), operation, table.table_name):
        return _store(table).loaded(raw)


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


def all_image_ids(job_table: JobTable) -> Iterator[str]:
    """The ``image_id`` of every job in the job table, in scan order."""
    for raw in items(job_table, "scan", attributes=["image_id"]):
        yield str(raw["image_id"]["S"])


def jobs_to_repair(job_table: JobTable, image_ids: Optional[Iterable[str]]) -> Iterator[str]:
    """``image_ids`` (each once, in order; every one checked before any is repaired), or every job of the
    table when ``None``."""
    if image_ids is None:
        return all_image_ids(job_table)
    given = [validation.require_key(image_id, "image_id") for image_id in image_ids]
    return iter(dict.fromkeys(given))


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` means DynamoDB did not answer (connection, timeout, 5xx, throttling): waiting may mend it."""
    seen: Optional[BaseException] = exc
    while seen is not None:
        failure = classify(seen) if not isinstance(seen, PynamoDBTablesError) else None
        if failure is not None:
            return failure.retry
        seen = seen.__cause__
    return False
