"""Typed attributes: pixel geometry (pairs of ints, boxes, lists of tiles) and the TTL.

(PynamoDB annotates ``of`` as the element's Python type, though it takes the element's
attribute class; hence the ``type: ignore`` on each.)
"""

import numbers
from decimal import Decimal
from typing import Any, List

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


class TileListAttribute(ListAttribute[Box]):
    """A list of tiles, each a :class:`BoxAttribute`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(of=BoxAttribute, **kwargs)  # type: ignore[arg-type]


class ExpireTimeAttribute(TTLAttribute):
    """A TTL read as a UTC ``datetime``; also takes epoch seconds (the seed's form) as an int,
    any ``numbers.Integral`` or an integral ``Decimal``."""

    def _normalize(self, value: Any) -> Any:
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            value = int(value)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        return super()._normalize(value)  # type: ignore[no-untyped-call]
