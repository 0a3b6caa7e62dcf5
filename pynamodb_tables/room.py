"""An item's size and room: DynamoDB's item size rules, and the one size rule every write obeys, so
that a region can always complete and restart, and a job can always end.

DynamoDB counts an item as the UTF-8 length of each attribute name plus its value: strings by UTF-8
length, numbers at one byte per base-100 digit plus one, lists and maps at three bytes plus one byte
per element on top of the elements themselves (checked against DynamoDB Local in the tests).

A state change (a region's start, restart or completion, a job's end, a count moving) writes only
attributes of bounded size: numbers (times, counts, durations, all under 38 digits) and
``region_status``. The rule measures an item with each of those at its widest
(:func:`reserved_size`), so that no state change can ever grow the measure; every write keeps
the measure within :data:`ITEM_BUDGET`, or does not grow it (an item another writer filled past the
budget still completes, restarts and takes smaller values). The budget is below DynamoDB's limit, so
whatever was written before, the state change fits.

A write that need not read the item first proves its room in its condition (:func:`has_room_for`);
one that knows the item checks the exact measure (:func:`room_problem`) and holds only while every
attribute of variable size is as large as it was seen (:func:`sizes_as_in`).
"""

import functools
import operator
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type

from pynamodb.attributes import Attribute, ListAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from .errors import PynamoDBTablesError, RegionFullError
from .items import Batch, RegionRequestItem, RequestStatus, TileListAttribute, absent, length, with_values
from .observing import Failed

ITEM_LIMIT = 400 * 1024
#: What an item may fill, measured with its numbers and status at their widest (``room.reserved_size``):
#: DynamoDB's limit less a margin, so that a state change always fits.
ITEM_BUDGET = ITEM_LIMIT - 10 * 1024
#: Most bytes a number takes: 38 digits (DynamoDB's precision) in base-100 pairs, plus one, plus
#: one for a negative number's terminator.
MAX_NUMBER_BYTES = 21
#: Most bytes one tile adds to a list: four numbers of at most 10 digits (6 bytes each) in two
#: lists of two, in a list: 1 + (3 + 2 * (1 + 3 + 2 * (1 + 6))).
MAX_TILE_BYTES = 40
#: A text of unbounded size (a region's ``message``, a job's texts) up to this size lets a write
#: prove its room in its condition; a larger one sends writes through the path that checks the
#: item's exact size.
SMALL_TEXT = 1024


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


#: Widest ``region_status``.
MAX_STATUS_BYTES = max(len(status.value) for status in RequestStatus)
#: Attributes whose size no condition needs to pin: the keys (never written) and the fixed-width ones.
_STATE_TEXT = "region_status"


def is_fixed_width(name: str, attribute: Attribute[Any]) -> bool:
    """Whether the rule counts ``attribute`` at its widest: a number, or the region's status."""
    return isinstance(attribute, (NumberAttribute, TTLAttribute)) or name == _STATE_TEXT


def _fixed_bytes(model: Type[Model]) -> int:
    """Bytes of ``model``'s fixed-width attributes at their widest (cached by their names, not by the
    model: a table's bound model is not kept alive by it)."""
    return _names_at_widest(tuple(sorted(name for name, attribute in model.get_attributes().items()
                                         if is_fixed_width(name, attribute))))


@functools.lru_cache(maxsize=8)
def _names_at_widest(names: Tuple[str, ...]) -> int:
    return sum(len(name.encode()) + (MAX_STATUS_BYTES if name == _STATE_TEXT else MAX_NUMBER_BYTES) for name in names)


def reserved_size(item: Model) -> int:
    """Bytes of ``item`` as the rule measures it: attributes of variable size as they are, numbers
    and the status at their widest (so no state change can grow it)."""
    total = _fixed_bytes(type(item))
    for name, attribute in type(item).get_attributes().items():
        value = getattr(item, name)
        if value is not None and not is_fixed_width(name, attribute):
            total += _stored_bytes(attribute, value)
    return total


def _stored_bytes(attribute: Attribute[Any], value: Any) -> int:
    """Bytes one attribute of an item takes, name included (tile lists measured from their ints)."""
    size = tiles_size(value) if isinstance(attribute, TileListAttribute) else None
    if size is None:
        wire = attribute.serialize(value, null_check=False) if isinstance(attribute, ListAttribute) \
            else attribute.serialize(value)
        if wire is None:  # (stored as absent)
            return 0
        size = value_size({attribute.attr_type: wire})
    return len(attribute.attr_name.encode()) + size


def tile_bytes(batch: Batch) -> int:
    """Bytes appending ``batch`` adds to a region."""
    total = 0
    for tiles in batch.values():
        size = tiles_size(tiles)
        total += size - 3 if size is not None else appended_size(TileListAttribute().serialize(tiles))
    return total


def values_size(model: Type[Model], values: Mapping[str, Any]) -> int:
    """Bytes ``values`` take in an item of ``model``, measured as the rule does."""
    return reserved_size(model(**values)) - _fixed_bytes(model)


def room_problem(after: Model, *, before: Optional[Model] = None, extra: int = 0) -> Optional[str]:
    """Why writing ``after`` (plus ``extra`` bytes) over ``before`` would break the rule, or ``None``:
    it stays within the budget, or it does not grow an item already past it."""
    size = reserved_size(after) + extra
    if size <= ITEM_BUDGET or (before is not None and size <= reserved_size(before)):
        return None
    what = "region" if isinstance(after, RegionRequestItem) else "job"
    return (f"the {what} item would grow to {size} bytes, past the {ITEM_BUDGET} it may use (DynamoDB items are "
            f"limited to {ITEM_LIMIT} bytes, and an item keeps room for its state changes); nothing was written")


def require_room(after: Model, key: Mapping[str, Any], *, before: Optional[Model] = None, extra: int = 0,
                 error: Optional[Type[PynamoDBTablesError]] = None) -> None:
    """Raise if writing ``after`` (plus ``extra`` bytes) over ``before`` would break the rule:
    ``error`` if given (:class:`~pynamodb_tables.errors.RegionFullError`: the tile lists are
    full), else a failure of the operation. Nothing is written either way."""
    problem = room_problem(after, before=before, extra=extra)
    if problem is None:
        return
    what = "its tile lists are full" if error is RegionFullError else "no room for these values"
    item = with_values(after, {})
    if error is not None:
        raise error(f"{what}: {problem}", key=key, item=item)
    raise Failed(f"{what}: {problem}", key=key, item=item)


def _variable(model: Type[Model]) -> Dict[str, Attribute[Any]]:
    """The attributes of variable size a write may change (keys are never written)."""
    return {name: attribute for name, attribute in model.get_attributes().items()
            if not is_fixed_width(name, attribute) and not attribute.is_hash_key and not attribute.is_range_key}


def _exists(model: Type[Model]) -> Condition:
    """The item exists (its hash key does)."""
    return next(attribute for attribute in model.get_attributes().values() if attribute.is_hash_key).exists()


def sizes_as_in(stored: Model, *, rewritten: Iterable[str] = ()) -> Condition:
    """The item exists and every attribute of variable size that the write does not set is as large
    as in ``stored`` (texts by their UTF-8 length, lists by their number of elements), so that the
    measure checked is the measure written."""
    skip = set(rewritten)
    conditions: List[Condition] = [_exists(type(stored))]
    for name, attribute in _variable(type(stored)).items():
        if name in skip:
            continue
        value = getattr(stored, name)
        if value is None:
            conditions.append(absent(attribute))
        elif isinstance(attribute, ListAttribute):
            conditions.append(length(attribute) == len(value))
        else:
            conditions.append(length(attribute) == len(str(value).encode()))
    return functools.reduce(operator.and_, conditions)


def room_since(stored: RegionRequestItem, extra: int) -> Condition:
    """A condition proving room for ``extra`` more bytes in a region others may have appended tiles to
    since ``stored`` was seen: its other attributes keep their sizes, and its lists have gained no
    more tiles than the room ``stored`` left allows (at the largest a tile can take)."""
    slack = max(0, (ITEM_BUDGET - reserved_size(stored) - extra) // (2 * MAX_TILE_BYTES))
    lists = (RegionRequestItem.succeeded_tiles, RegionRequestItem.failed_tiles)
    condition = sizes_as_in(stored, rewritten=[tile_list.attr_name for tile_list in lists])
    for tile_list in lists:
        condition &= tile_list.does_not_exist() | (length(tile_list) <= len(getattr(stored, tile_list.attr_name) or [])
                                                   + slack)
    return condition


#: Most bytes a hash key takes (DynamoDB's limit), with its name.
HASH_KEY_BYTES = 2048 + len("image_id")
#: Most bytes a region holds beside its tile lists while its ``message`` is small, measured as the
#: rule does: keys (2048 + 1024 bytes), four texts of MAX_TEXT, the message, the fixed-width
#: attributes and three small lists (checked against the model in the tests).
REGION_OTHER_MAX = 14 * 1024


def _unbounded_texts(model: Type[Model]) -> List[str]:
    """Texts that validation does not bound: a region's ``message``; every text of a job (``roi_wkt``...)."""
    if model is RegionRequestItem:
        return ["message"]
    return [name for name, attribute in _variable(model).items() if isinstance(attribute, UnicodeAttribute)]


def has_room_for(model: Type[Model], extra: int, *, rewritten: Iterable[str] = ()) -> Optional[Condition]:
    """A condition proving, without reading the item, that it exists and has room for ``extra`` more
    bytes whatever else it holds: each unbounded text not rewritten is small enough, and a region's
    tile lists short enough for both to fit. ``None`` when ``extra`` is too large for any proof: the
    writer reads the item and checks its exact measure (as it does when the condition refuses).

    A region's other texts are bounded by validation; its ``message`` may take ``SMALL_TEXT`` and
    its lists the rest (six operators, beside the 281 of a batch of 140 tiles: DynamoDB allows 300).
    A job's texts (``roi_wkt``, ``outputs``...) share what the budget leaves equally.
    """
    skip = set(rewritten)
    texts = [name for name in _unbounded_texts(model) if name not in skip]
    conditions: List[Condition] = [_exists(model)]
    if model is RegionRequestItem:
        room = ITEM_BUDGET - REGION_OTHER_MAX - extra
        most = room // (2 * MAX_TILE_BYTES)
        conditions += [tile_list.does_not_exist() | (length(tile_list) < most)
                       for tile_list in (RegionRequestItem.succeeded_tiles, RegionRequestItem.failed_tiles)]
        largest = SMALL_TEXT
    else:
        names = sum(len(name) + 3 for name in texts)
        room = ITEM_BUDGET - HASH_KEY_BYTES - _fixed_bytes(model) - names - extra
        largest = room // max(1, len(texts))
    if room < 0:
        return None
    for name in texts:
        text = model.get_attributes()[name]
        conditions.append(text.does_not_exist() | (length(text) <= largest))
    return functools.reduce(operator.and_, conditions)
