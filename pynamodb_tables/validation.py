"""Checks on caller input, run before anything is written.

Each check returns the value in the form the tables store (lists, enum members) or raises
an :class:`~pynamodb_tables.errors.InvalidRequestError` subclass naming what was wrong.
"""

from datetime import datetime
from typing import Any, Optional, Type

from pynamodb.attributes import Attribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from .attributes import Box, BoxAttribute, IntPairAttribute, Pair, TileListAttribute
from .errors import InvalidRequestError, InvalidTileError
from .status import RequestStatus, TileState


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_key(value: Any, name: str, error: Type[InvalidRequestError] = InvalidRequestError) -> str:
    """A key attribute must be a non-empty string."""
    if not isinstance(value, str):
        raise error(f"{name} must be a non-empty string, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise error(f"{name} must be a non-empty string, got {value!r}")
    return value


def pair(value: Any, name: str, *, minimum: int, error: Type[InvalidRequestError] = InvalidRequestError) -> Pair:
    """Two ints, each at least ``minimum``, as a list."""
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(_is_int(v) for v in value):
        raise error(f"{name} must be two ints, got {value!r}")
    if any(v < minimum for v in value):
        raise error(f"{name} values must be >= {minimum}, got {value!r}")
    return [int(value[0]), int(value[1])]


def box(value: Any, name: str, error: Type[InvalidRequestError] = InvalidRequestError) -> Box:
    """A pixel box ``[[x, y], [w, h]]`` with ``x, y >= 0`` and ``w, h > 0``, as lists."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise error(f"{name} must be [[x, y], [w, h]], got {value!r}")
    origin = pair(value[0], f"{name} origin [x, y]", minimum=0, error=error)
    size = pair(value[1], f"{name} size [w, h]", minimum=1, error=error)
    return [origin, size]


def tile(value: Any) -> Box:
    """A tile ``[[x, y], [w, h]]``; raises :class:`InvalidTileError`."""
    return box(value, "tile", error=InvalidTileError)


def status(value: Any, error: Type[InvalidRequestError] = InvalidRequestError) -> RequestStatus:
    """A :class:`RequestStatus` member, from the member or its name."""
    if isinstance(value, RequestStatus):
        return value
    if isinstance(value, str) and value in RequestStatus.__members__:
        return RequestStatus[value]
    names = ", ".join(RequestStatus.__members__)
    raise error(f"unknown region status {value!r}; expected one of {names}")


def tile_state(value: Any) -> TileState:
    """A :class:`TileState` member, from the member or its value."""
    if isinstance(value, TileState):
        return value
    try:
        return TileState(value)
    except ValueError:
        raise InvalidRequestError(f"unknown tile state {value!r}; expected 'succeeded' or 'failed'") from None


def item_types(
    item: Model, expected: Type[Model], error: Type[InvalidRequestError] = InvalidRequestError
) -> None:
    """Every set attribute of ``item`` holds a value of its declared type."""
    if not isinstance(item, expected):
        raise error(f"expected a {expected.__name__}, got {type(item).__name__}")
    for name, attr in type(item).get_attributes().items():
        value: Optional[Any] = item.attribute_values.get(name)
        if value is not None:
            _check_attribute(attr, name, value, error)


def _check_attribute(attr: Attribute[Any], name: str, value: Any, error: Type[InvalidRequestError]) -> None:
    if isinstance(attr, TileListAttribute):
        if not isinstance(value, (list, tuple)):
            raise error(f"{name} must be a list of tiles, got {value!r}")
        for each in value:
            box(each, f"{name} entry", error=error)
    elif isinstance(attr, BoxAttribute):
        box(value, name, error=error)
    elif isinstance(attr, IntPairAttribute):
        pair(value, name, minimum=0, error=error)
    elif isinstance(attr, TTLAttribute) and not isinstance(value, datetime):
        raise error(f"{name} must be a datetime, got {value!r}")
    elif isinstance(attr, NumberAttribute) and not _is_int(value):
        raise error(f"{name} must be an int, got {type(value).__name__} {value!r}")
    elif isinstance(attr, UnicodeAttribute) and not isinstance(value, str):
        raise error(f"{name} must be a str, got {type(value).__name__} {value!r}")
