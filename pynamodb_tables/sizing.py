"""DynamoDB's item size rules, so a region's tiles stop short of the 400 KB item limit.

DynamoDB counts an item as the UTF-8 length of each attribute name plus its value: strings
by UTF-8 length, numbers at one byte per base-100 digit plus one, lists and maps at three
bytes plus one byte per element on top of the elements themselves (checked against
DynamoDB Local in the tests).
"""

import functools
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

ITEM_LIMIT = 400 * 1024
#: What an item may fill, measured with its numbers and status at their widest (``room.reserved_size``):
#: DynamoDB's limit less a margin, so that a state change always fits.
ITEM_BUDGET = ITEM_LIMIT - 10 * 1024
#: Most bytes a number takes: 38 digits (DynamoDB's precision) in base-100 pairs, plus one, plus
#: one for a negative number's terminator.
MAX_NUMBER_BYTES = 21
#: Largest coordinate or size in a tile or box (GDAL's rasters are indexed by 32-bit ints).
MAX_PIXEL = 2**31 - 1
#: Most bytes one tile adds to a list: four numbers of at most 10 digits (6 bytes each) in two
#: lists of two, in a list: 1 + (3 + 2 * (1 + 3 + 2 * (1 + 6))).
MAX_TILE_BYTES = 40
#: A text of unbounded size (a region's ``message``, a job's texts) up to this size lets a write
#: prove its room in its condition; a larger one sends writes through the path that checks the
#: item's exact size.
SMALL_TEXT = 1024
#: Longest value of a region's other text attributes (an IAM role ARN may take 2048).
MAX_TEXT = 2048


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value in its wire form (``{"N": "5"}``)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return _number_size(str(data))
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in data)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(element) + 1 for name, element in data.items())
    return sum(len(str(element).encode()) for element in data)  # SS, NS, BS


def _number_size(text: str) -> int:
    """A number is stored as base-100 digits aligned on the decimal point, plus one byte
    (and one more for a negative number's terminator); zero takes one byte."""
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("+-").lower().partition("e")[0].partition(".")
    whole = whole.lstrip("0")
    fraction = fraction.rstrip("0")
    digits = ("0" * (len(whole) % 2) + whole) + (fraction + "0" * (len(fraction) % 2))
    pairs = [digits[i:i + 2] for i in range(0, len(digits), 2)]
    while pairs and pairs[-1] == "00":
        pairs.pop()
    while pairs and pairs[0] == "00":
        pairs.pop(0)
    if not pairs:
        return 1
    return len(pairs) + 1 + int(negative)


def item_size(serialized: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes DynamoDB counts for an item given as ``Model.serialize()`` returns it."""
    return sum(len(name.encode()) + value_size(value) for name, value in serialized.items())


def appended_size(elements: Iterable[Dict[str, Any]]) -> int:
    """Bytes that appending these wire-form elements adds to a list."""
    return sum(value_size(element) + 1 for element in elements)


@functools.lru_cache(maxsize=65_536)
def _int_size(number: int) -> int:
    return _number_size(str(number))


def tiles_size(tiles: Sequence[Any]) -> Optional[int]:
    """Bytes of a list of tiles ``[[x, y], [w, h]]`` of ints, as :func:`value_size` counts its wire form,
    computed from the ints (a region's lists hold thousands: serializing them to measure them would cost
    more than the write); ``None`` when ``tiles`` is not of that form (measure its wire form then)."""
    total = 3
    for tile in tiles:
        # 16 = the tile's list (3 + 1 per pair) and its element byte, each pair's list (3 + 1 per number)
        if type(tile) is not list or len(tile) != 2:
            return None
        (first, second) = tile
        if type(first) is not list or type(second) is not list or len(first) != 2 or len(second) != 2:
            return None
        for number in (*first, *second):
            if type(number) is not int:
                return None
        total += 16 + _int_size(first[0]) + _int_size(first[1]) + _int_size(second[0]) + _int_size(second[1])
    return total
