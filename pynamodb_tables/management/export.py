"""``export``: a job and every one of its regions as plain JSON objects, job first, for tickets and jq.

Items are exported as stored (strongly consistent reads), every attribute, each DynamoDB type
as its JSON counterpart: numbers as numbers, lists and maps as arrays and objects, sets as
sorted arrays, binary as base64 text.
"""

import base64
from decimal import Decimal
from typing import Any, Dict, Iterator

from ..observing import Capacity
from ..reads import query_hash_key, request
from .errors import CommandError
from .settings import TablePair


def plain_value(value: Dict[str, Any]) -> Any:
    """One DynamoDB attribute value (``{"S": "x"}``, ``{"N": "1"}``...) as plain JSON."""
    ((kind, data),) = value.items()
    if kind == "N":
        return number(data)
    if kind in ("S", "BOOL"):
        return data
    if kind == "NULL":
        return None
    if kind == "B":
        return base64.b64encode(data).decode()
    if kind == "L":
        return [plain_value(v) for v in data]
    if kind == "M":
        return plain_item(data)
    if kind == "NS":
        return sorted(number(n) for n in data)
    if kind == "SS":
        return sorted(data)
    return sorted(base64.b64encode(b).decode() for b in data)  # BS


def number(text: str) -> Any:
    exact = Decimal(text)
    return int(exact) if exact == exact.to_integral_value() else float(exact)


def plain_item(item: Dict[str, Any]) -> Dict[str, Any]:
    return {name: plain_value(value) for name, value in sorted(item.items())}


def export_items(tables: TablePair, image_id: str) -> Iterator[Dict[str, Any]]:
    """The job of ``image_id``, then each of its regions in ``region_id`` order (unknown image: an error)."""
    cost = Capacity()
    job = request(tables.job, "get_item", cost, hash_key=image_id, consistent=True).get("Item")
    if not job:
        raise CommandError(f"unknown image {image_id!r}: no job in table {tables.job.table_name!r}")
    yield plain_item(job)
    for region in query_hash_key(tables.region, image_id, cost, consistent=True):
        yield plain_item(region)
