"""Typed attributes: pixel geometry (pairs of ints, boxes, lists of tiles) and the TTL.

(PynamoDB annotates ``of`` as the element's Python type, though it takes the element's
attribute class; hence the ``type: ignore`` on each.)
"""

import numbers
from decimal import Decimal
from typing import Any, List, Optional

from pynamodb.attributes import ListAttribute, NumberAttribute, TTLAttribute

Pair = List[int]
Box = List[List[int]]


class IntPairAttribute(ListAttribute[int]):
    """A list of two ints, e.g. ``tile_size`` ``[w, h]`` or ``tile_overlap`` ``[x, y]``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(of=NumberAttribute, **kwargs)  # type: ignore[arg-type]


class BoxAttribute(ListAttribute[Pair]):
    """A pixel box ``[[x, y], [w, h]]``: a region's bounds or one tile."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(of=IntPairAttribute, **kwargs)  # type: ignore[arg-type]


def as_int(value: Any) -> Optional[int]:
    """``value`` as an int if it is one (any ``numbers.Integral`` or an integral ``Decimal``; not a bool):
    the one place the package takes the integer forms its callers use."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


class TileListAttribute(ListAttribute[Box]):
    """A list of tiles, each a :class:`BoxAttribute`.

    A region returns its whole lists with every write, so they are read and written straight from
    and to the wire form where they hold what the package writes (four ints a tile), and through
    PynamoDB's typed attributes otherwise (another writer's forms): the same values, at a fraction
    of the CPU.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(of=BoxAttribute, **kwargs)  # type: ignore[arg-type]

    def serialize(self, values: Any, *, null_check: bool = True) -> Any:
        if all(_plain_tile(tile) for tile in values):  # (the package's own form: four ints a tile)
            return [{"L": [{"L": [{"N": str(x)}, {"N": str(y)}]}, {"L": [{"N": str(w)}, {"N": str(h)}]}]}
                    for (x, y), (w, h) in values]
        return super().serialize(values, null_check=null_check)

    def deserialize(self, values: Any) -> Any:
        try:  # (a number DynamoDB wrote other than as an integer, "1.5" or "1E+2", is a ValueError)
            return [[[int(number["N"]) for number in pair["L"]] for pair in tile["L"]] for tile in values]
        except (KeyError, TypeError, ValueError):
            return super().deserialize(values)  # type: ignore[no-untyped-call]


def _plain_tile(tile: Any) -> bool:
    """Whether ``tile`` is ``[[x, y], [w, h]]`` of plain ints (the form validation gives every tile)."""
    return (type(tile) is list and len(tile) == 2
            and all(type(pair) is list and len(pair) == 2 and all(type(n) is int for n in pair) for pair in tile))


class ExpireTimeAttribute(TTLAttribute):
    """A TTL read as a UTC ``datetime``; also takes epoch seconds (the seed's form) as an int,
    any ``numbers.Integral`` or an integral ``Decimal``."""

    def _normalize(self, value: Any) -> Any:
        number = as_int(value)
        return number if number is not None else super()._normalize(value)  # type: ignore[no-untyped-call]
