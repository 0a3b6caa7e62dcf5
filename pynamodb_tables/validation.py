"""The one normalisation step for caller input, run before anything is written.

Values are taken in the forms callers use and returned in the plain forms the tables store:
tuples become lists (at any depth), integral ``Decimal``s and any ``numbers.Integral``
(numpy integers included) become ``int``, enums become their value (a status or tile state
only where it is a valid one), ``str`` subclasses become ``str``. Anything else raises an
:class:`~pynamodb_tables.errors.InvalidRequestError` subclass naming what was wrong, so that
nothing is ever stored in a form that a later read cannot load.
"""

import math
import numbers
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Dict, List, Tuple, Type, cast

from pynamodb.attributes import Attribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.models import Model

from .errors import InvalidRegionRequestException, InvalidRequestError, InvalidTileError, PynamoDBTablesError
from .items import (
    Box,
    BoxAttribute,
    IntPairAttribute,
    JobItem,
    Pair,
    RegionRequestItem,
    RequestStatus,
    TileListAttribute,
    TileState,
    as_int,
)

#: Largest coordinate or size in a tile or box (GDAL's rasters are indexed by 32-bit ints).
MAX_PIXEL = 2**31 - 1
#: Longest value of a region's other text attributes (an IAM role ARN may take 2048).
MAX_TEXT = 2048

#: DynamoDB's limits on key values, in UTF-8 bytes.
HASH_KEY_MAX_BYTES = 2048
RANGE_KEY_MAX_BYTES = 1024
#: DynamoDB numbers hold 38 significant digits.
MAX_NUMBER = 10**38
_STATUS_NAMES = ", ".join(RequestStatus.__members__)


def shown(value: Any) -> str:
    """``value`` as an error message shows it: its ``repr``, cut short if long (a hostile 400-digit number)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {shown(value)}"


def integer(value: Any, name: str, error: Type[InvalidRequestError] = InvalidRequestError, *, minimum: int = 0) -> int:
    """An int, at least ``minimum``."""
    number = as_int(value)
    if number is None:
        raise error(f"{name} must be an int, got {_describe(value)}")
    if number < minimum:
        raise error(f"{name} must be >= {minimum}, got {value!r}")
    if number >= MAX_NUMBER:
        raise error(f"{name} is too large for DynamoDB (38 digits at most), got {value!r}")
    return number


def seconds(value: Any, name: str, error: Type[PynamoDBTablesError] = InvalidRequestError) -> float:
    """A finite number of seconds, at least 0 (an int too large for a float is too large, not an
    ``OverflowError``)."""
    try:
        number = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number < 0:
        raise error(f"{name} must be a number of seconds >= 0, got {_describe(value)}")
    return number


def text(value: Any, name: str, error: Type[InvalidRequestError] = InvalidRequestError) -> str:
    """A plain ``str`` that DynamoDB can store (valid UTF-8); an enum gives its value."""
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        raise error(f"{name} must be a str, got {_describe(value)}")
    plain = str.__str__(value)
    try:
        plain.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{name} is not valid UTF-8 (it holds a lone surrogate): {value!r}") from None
    return plain


def require_key(
    value: Any, name: str, error: Type[InvalidRequestError] = InvalidRequestError, *,
    max_bytes: int = HASH_KEY_MAX_BYTES,
) -> str:
    """A key attribute: a non-empty, valid UTF-8 string within DynamoDB's key size."""
    if not isinstance(value, str) or isinstance(value, Enum):
        raise error(f"{name} must be a non-empty string, got {_describe(value)}")
    key = text(value, name, error)
    if not key.strip():
        raise error(f"{name} must be a non-empty string, got {value!r}")
    size = len(key.encode("utf-8"))
    if size > max_bytes:
        raise error(f"{name} is {size} bytes of UTF-8; DynamoDB allows {max_bytes}")
    return key


def key_of(model: Type[Model], values: Dict[str, Any],
           error: Type[InvalidRequestError] = InvalidRequestError) -> Dict[str, str]:
    """The key attributes of ``model`` given in ``values`` (all of them, or the hash key alone for a
    query), each a usable key within DynamoDB's size for its kind: a hash key 2048 bytes, a range key 1024."""
    attributes = model.get_attributes()
    return {name: require_key(value, name, error,
                              max_bytes=RANGE_KEY_MAX_BYTES if attributes[name].is_range_key else HASH_KEY_MAX_BYTES)
            for name, value in values.items()}


def _sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def pair(value: Any, name: str, *, minimum: int, error: Type[InvalidRequestError] = InvalidRequestError) -> Pair:
    """Two ints, each from ``minimum`` to :data:`~pynamodb_tables.validation.MAX_PIXEL`, as a list."""
    numbers_ = [as_int(each) for each in value] if _sequence(value) and len(value) == 2 else [None]
    if any(each is None for each in numbers_):
        raise error(f"{name} must be two ints, got {value!r}")
    if any(each < minimum for each in numbers_):  # type: ignore[operator]
        raise error(f"{name} values must be >= {minimum}, got {value!r}")
    if any(each > MAX_PIXEL for each in numbers_):  # type: ignore[operator]
        raise error(f"{name} values must be at most {MAX_PIXEL} pixels, got {value!r}")
    return cast(Pair, numbers_)


def box(value: Any, name: str, error: Type[InvalidRequestError] = InvalidRequestError) -> Box:
    """A pixel box ``[[x, y], [w, h]]`` with ``x, y >= 0`` and ``w, h > 0``, as lists."""
    if not _sequence(value) or len(value) != 2:
        raise error(f"{name} must be [[x, y], [w, h]], got {value!r}")
    origin = pair(value[0], f"{name} origin [x, y]", minimum=0, error=error)
    size = pair(value[1], f"{name} size [w, h]", minimum=1, error=error)
    return [origin, size]


def tile(value: Any) -> Box:
    """A tile ``[[x, y], [w, h]]``; raises :class:`InvalidTileError`."""
    return box(value, "tile", error=InvalidTileError)


def tiles(value: Any, name: str, error: Type[InvalidRequestError] = InvalidRequestError) -> List[Box]:
    """A list of tiles."""
    if not _sequence(value):
        raise error(f"{name} must be a list of tiles, got {value!r}")
    return [box(each, f"{name} entry", error=error) for each in value]


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def status(value: Any, error: Type[InvalidRequestError] = InvalidRequestError) -> RequestStatus:
    """A :class:`RequestStatus` from the member, its name, or any enum whose value is one."""
    if isinstance(value, RequestStatus):
        return value
    raw = _enum_value(value)
    if isinstance(raw, str) and not isinstance(raw, Enum) and str.__str__(raw) in RequestStatus.__members__:
        return RequestStatus[str.__str__(raw)]
    raise error(f"unknown region status {value!r}; expected one of {_STATUS_NAMES}")


def tile_state(value: Any) -> TileState:
    """A :class:`TileState` from the member, its value, or any enum whose value is one."""
    if isinstance(value, TileState):
        return value
    raw = _enum_value(value)
    if isinstance(raw, str) and not isinstance(raw, Enum):
        try:
            return TileState(str.__str__(raw))
        except ValueError:
            pass
    raise InvalidRequestError(f"unknown tile state {value!r}; expected 'succeeded' or 'failed'")


def expire_time(value: Any, name: str, error: Type[InvalidRequestError] = InvalidRequestError) -> datetime:
    """A TTL: a timezone-aware ``datetime``, or epoch seconds (the seed's form)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise error(f"{name} must be a timezone-aware datetime or epoch seconds, got {value!r}")
        return value.astimezone(timezone.utc)
    seconds = integer(value, name, error)
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise error(f"{name} is not a usable epoch time in seconds: {value!r}") from None


def attribute_value(attr: Attribute[Any], name: str, value: Any, error: Type[InvalidRequestError]) -> Any:
    """``value`` in the plain form ``attr`` stores."""
    if isinstance(attr, TileListAttribute):
        return tiles(value, name, error)
    if isinstance(attr, BoxAttribute):
        return box(value, name, error)
    if isinstance(attr, IntPairAttribute):
        return pair(value, name, minimum=0, error=error)
    if isinstance(attr, TTLAttribute):
        return expire_time(value, name, error)
    if isinstance(attr, NumberAttribute):
        return integer(value, name, error)
    if isinstance(attr, UnicodeAttribute):
        return text(value, name, error)
    if isinstance(attr, UnicodeSetAttribute):  # (the job's record of its counted regions: as stored)
        if isinstance(value, (str, bytes)) or not isinstance(value, (set, frozenset, list, tuple)) or \
                not all(isinstance(entry, str) for entry in value):
            raise error(f"{name} must be a set of texts, got {value!r}")
        return set(value)
    raise error(f"{name}: unsupported attribute type {type(attr).__name__}")  # pragma: no cover


def item_values(
    item: Any, expected: Type[Model], error: Type[InvalidRequestError] = InvalidRequestError
) -> Dict[str, Any]:
    """Every set attribute of ``item`` (an ``expected`` model), normalised; the item itself is not changed."""
    if not isinstance(item, expected):
        raise error(f"expected a {expected.__name__}, got {type(item).__name__}")
    values: Dict[str, Any] = {}
    for name, attr in type(item).get_attributes().items():
        value = item.attribute_values.get(name)
        if value is not None:
            values[name] = attribute_value(attr, name, value, error)
    return values


def job_values(item: Any) -> Dict[str, Any]:
    """The set attributes of a job item, normalised; its ``image_id`` must be a usable key."""
    values = item_values(item, JobItem)
    values.update(key_of(JobItem, {"image_id": item.image_id}))
    return values


def region_values(item: Any) -> Dict[str, Any]:
    """The set attributes of a region item, normalised and checked (keys, bounds, tile size, status)."""
    error = InvalidRegionRequestException
    values = item_values(item, RegionRequestItem, error)
    values.update(key_of(RegionRequestItem, {"image_id": item.image_id, "region_id": item.region_id}, error))
    if "tile_size" in values:
        values["tile_size"] = pair(values["tile_size"], "tile_size", minimum=1, error=error)
    if "region_status" in values:
        values["region_status"] = status(values["region_status"], error).value
    for name in ("job_id", "image_read_role", "tile_compression", "tile_format"):
        if name in values and len(values[name].encode()) > MAX_TEXT:
            raise error(f"{name} is {len(values[name].encode())} bytes of UTF-8; at most {MAX_TEXT} are kept")
    return values


def region_key(item: Any) -> Tuple[str, str]:
    """Validate a region item; returns its ``(image_id, region_id)``."""
    values = region_values(item)
    return values["image_id"], values["region_id"]
