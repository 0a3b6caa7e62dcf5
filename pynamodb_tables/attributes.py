"""Typed list attributes for pixel geometry: pairs of ints, boxes and lists of tiles.

(PynamoDB annotates ``of`` as the element's Python type, though it takes the element's
attribute class; hence the ``type: ignore`` on each.)
"""

from typing import Any, List

from pynamodb.attributes import ListAttribute, NumberAttribute

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
