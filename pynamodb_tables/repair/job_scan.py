"""Every job of the job table, page after page (``--all``), and the jobs a repair works on.

The scan is eventually consistent and projects ``image_id`` only (the cheapest read of the
whole table); each job is then read strongly consistent by the repair itself. Each page is
sent, and retried, on its own through the package's one send-and-retry mechanism.
"""

from typing import Any, Callable, Dict, Iterable, Iterator, Optional

from .. import validation
from ..connection import read_page
from ..errors import GetImageRequestItemException
from ..job_table import JobItem, JobTable
from ..operations import failing_as
from ..store import store_of

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
