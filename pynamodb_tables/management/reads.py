"""The commands' raw reads: one request, or every page of a scan or query, and the read units spent.

Each request asks for ``ReturnConsumedCapacity=TOTAL`` and goes through the package's one
send-and-retry mechanism (:func:`pynamodb_tables.retry.send`), so a throttled page is sent
again on its own instead of restarting the scan.
"""

from dataclasses import dataclass
from typing import Any, Dict, Iterator

from ..connection import read_page
from ..operations import Failed
from ..repair.reads import paginate
from ..retry import send
from ..store import BoundTable, store_of
from .errors import CommandError


@dataclass
class ReadCost:
    """Read capacity units consumed, and requests sent, by a command's reads."""

    units: float = 0.0
    requests: int = 0

    def count(self, answer: Dict[str, Any]) -> None:
        self.requests += 1
        self.units += float(answer.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))


def table_client(table: BoundTable[Any]) -> Any:
    """The botocore DynamoDB client of ``table`` (its endpoint, region and timeouts)."""
    return table.clients()[0]


def request(table: BoundTable[Any], operation: str, cost: ReadCost, **parameters: Any) -> Dict[str, Any]:
    """One ``operation`` (``get_item``, or a page of ``scan`` or ``query``) on ``table``; its answer
    (``connection.read_page``'s parameters)."""
    what = f"{operation} on table {table.table_name!r}"
    if parameters.get("hash_key") is not None:
        what += f" for {store_of(table).key_names[0]}={parameters['hash_key']!r}"
    try:
        answer = send(lambda _: read_page(table.model, operation, **parameters),
                      retries=table.settings.max_retry_attempts, what=what, reads=True)
    except Failed as exc:
        raise CommandError(f"{what}: {exc.message}") from exc
    cost.count(answer)
    return answer


def pages(table: BoundTable[Any], operation: str, cost: ReadCost, **parameters: Any) -> Iterator[Dict[str, Any]]:
    """Every page of a ``scan`` or ``query``, in order, each sent (and retried) on its own."""
    return paginate(lambda start: request(table, operation, cost, start=start, **parameters))


def items(table: BoundTable[Any], operation: str, cost: ReadCost, **parameters: Any) -> Iterator[Dict[str, Any]]:
    """Every item (wire form) a ``scan`` or ``query`` returns, page after page."""
    for page in pages(table, operation, cost, **parameters):
        yield from page.get("Items", [])


def query_hash_key(table: BoundTable[Any], value: str, cost: ReadCost, **parameters: Any) -> Iterator[Dict[str, Any]]:
    """Every item under hash key ``value`` (wire form), page after page (``attributes=``: only those)."""
    return items(table, "query", cost, hash_key=value, **parameters)
