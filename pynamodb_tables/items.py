"""The items and their attributes: the two item models, their typed attributes, the statuses, and what
both models share (construction in the model runner's attribute order, values moved between items).

The models hold exactly the seed documents' attributes, names and types, in their order. Times
(``start_time``, ``end_time``, ``last_updated_time``) are epoch milliseconds, ``expire_time`` is the
table's TTL (epoch seconds, read as a UTC ``datetime``), and ``processing_duration`` is whole seconds.
Tiles and boxes are ``[[x, y], [w, h]]`` of ints (pixel geometry: pairs of ints, boxes, lists of tiles).
(PynamoDB annotates ``of`` as the element's Python type, though it takes the element's attribute class;
hence the ``type: ignore`` on each.)

The seed's items were dataclasses, built positionally in their attribute order; PynamoDB's
``Model(hash_key, range_key)`` gives positional arguments another meaning. ``SeedItem``
keeps the seed's: ``RegionRequestItem("r", "i", "j")`` is ``region_id="r", image_id="i",
job_id="j"``. PynamoDB's own keywords (``hash_key=``, ``range_key=``) keep working.
"""

import json
import numbers
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Dict, Iterable, List, Mapping, Optional, Tuple, Type, TypeVar, cast

from pynamodb.attributes import (
    Attribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.constants import NULL
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.models import Model


class RequestStatus(str, Enum):
    """Status of an image or region request; the value is the name."""

    STARTED = "STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    PARTIAL = "PARTIAL"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """True for the outcomes a request ends in: ``SUCCESS``, ``PARTIAL`` and ``FAILED``."""
        return self in TERMINAL_STATUSES

    def __str__(self) -> str:
        return self.value


TERMINAL_STATUSES = frozenset({RequestStatus.SUCCESS, RequestStatus.PARTIAL, RequestStatus.FAILED})
NON_TERMINAL_STATUSES = frozenset(set(RequestStatus) - TERMINAL_STATUSES)
#: The same, as the text stored in ``region_status``.
TERMINAL_VALUES = frozenset(status.value for status in TERMINAL_STATUSES)
NON_TERMINAL_VALUES = frozenset(status.value for status in NON_TERMINAL_STATUSES)


class TileState(str, Enum):
    """Outcome of one tile; selects ``succeeded_tiles`` or ``failed_tiles``."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


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


M = TypeVar("M", bound=Model)


class SeedItem(Model):
    """A PynamoDB model whose positional arguments follow the seed's attribute order."""

    #: The seed's attribute order: what positional arguments mean.
    seed_order: ClassVar[Tuple[str, ...]] = ()

    def __init__(
        self,
        *args: Any,
        hash_key: Optional[Any] = None,
        range_key: Optional[Any] = None,
        _user_instantiated: bool = True,
        **attributes: Any,
    ) -> None:
        if len(args) > len(self.seed_order):
            raise TypeError(f"{type(self).__name__}() takes at most {len(self.seed_order)} positional arguments "
                            f"({', '.join(self.seed_order)}), got {len(args)}")
        for name, value in zip(self.seed_order, args):
            if name in attributes:
                raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
            attributes[name] = value
        super().__init__(hash_key=hash_key, range_key=range_key, _user_instantiated=_user_instantiated, **attributes)


def settable(values: Mapping[str, Any], exclude: Iterable[str]) -> Dict[str, Any]:
    """``values`` without the attributes in ``exclude``."""
    skip = set(exclude)
    return {name: value for name, value in values.items() if name not in skip}


def set_actions(model: Type[Model], values: Mapping[str, Any]) -> List[Action]:
    """A ``set`` action for each attribute in ``values`` (already normalised)."""
    attributes = model.get_attributes()
    return [attributes[name].set(value) for name, value in values.items()]


def copy_stored(target: Model, stored: Model) -> None:
    """Make the caller's ``target`` hold what is stored: every attribute of ``stored``, copied."""
    for name in type(stored).get_attributes():
        setattr(target, name, copied(getattr(stored, name)))


def copied(value: Any) -> Any:
    """A copy of an attribute's value: lists and maps copied at every depth; what they hold otherwise
    (ints, texts, times: immutable) shared. (``copy.deepcopy`` costs ten times as much on a region's
    thousands of tiles.)"""
    if isinstance(value, list):
        return [copied(element) for element in value]
    if isinstance(value, dict):
        return {name: copied(element) for name, element in value.items()}
    return value


def attributes_from(model: Type[Model], source: Any) -> Dict[str, Any]:
    """The model's attributes read off any object that carries them by name.

    Text attributes given other values are stored as text, as the seed's items wrote them:
    enums by value, lists and dicts as JSON, anything else (a tuple too: ``"(512, 512)"``) with
    ``str``. Tuples in list attributes become lists.
    """
    values: Dict[str, Any] = {}
    for name, attr in model.get_attributes().items():
        value = getattr(source, name, None)
        if value is None:
            continue
        if isinstance(attr, UnicodeAttribute):
            value = as_text(value)
        elif isinstance(attr, ListAttribute):
            value = _as_lists(value)
        values[name] = value
    return values


def as_text(value: Any) -> str:
    """``value`` as the text a string attribute stores."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def _as_lists(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_as_lists(v) for v in value]
    return value


def with_values(stored: M, values: Mapping[str, Any]) -> M:
    """A copy of ``stored`` with ``values`` set: the item a write of ``values`` leaves."""
    result = type(stored)(**{name: copied(value) for name, value in stored.attribute_values.items()})
    for name, value in values.items():
        setattr(result, name, value)
    return result


def absent(attribute: Attribute[Any]) -> Condition:
    """``attribute`` is not set: missing, or stored as ``NULL`` by another writer (both load as ``None``)."""
    return cast(Condition, attribute.does_not_exist() | Path(attribute).is_type(NULL))


def still(attribute: Attribute[Any], value: Any) -> Condition:
    """``attribute`` still holds ``value`` (already normalised), or is still unset. A TTL is compared to
    within a second: it loads as a ``datetime`` and is written in whole seconds, while another writer
    may have stored a fraction (``time.time() + 86400``), which DynamoDB compares exactly."""
    if value is None:
        return absent(attribute)
    if isinstance(attribute, TTLAttribute) and isinstance(value, datetime):
        return cast(Condition, attribute.between(value - _SECOND, value + _SECOND))
    return cast(Condition, attribute == value)


_SECOND = timedelta(seconds=1)


class JobItem(SeedItem):
    """An image job: one item per image in the job table, keyed by ``image_id``."""

    seed_order = ("image_id", "job_id", "image_url", "image_read_role", "model_invoke_mode", "start_time",
                  "expire_time", "end_time", "region_success", "region_error", "region_count", "width", "height",
                  "extents", "tile_size", "tile_overlap", "model_name", "outputs", "processing_duration",
                  "feature_properties", "feature_distillation_option", "roi_wkt")

    image_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(null=True)
    image_url = UnicodeAttribute(null=True)
    image_read_role = UnicodeAttribute(null=True)
    model_invoke_mode = UnicodeAttribute(null=True)
    start_time = NumberAttribute(null=True)
    expire_time = ExpireTimeAttribute(null=True)
    end_time = NumberAttribute(null=True)
    region_success = NumberAttribute(null=True)
    region_error = NumberAttribute(null=True)
    region_count = NumberAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    extents = UnicodeAttribute(null=True)
    tile_size = UnicodeAttribute(null=True)
    tile_overlap = UnicodeAttribute(null=True)
    model_name = UnicodeAttribute(null=True)
    outputs = UnicodeAttribute(null=True)
    processing_duration = NumberAttribute(null=True)
    feature_properties = UnicodeAttribute(null=True)
    feature_distillation_option = UnicodeAttribute(null=True)
    roi_wkt = UnicodeAttribute(null=True)
    #: The regions counted in ``region_success`` / ``region_error``, each by a short digest of its id
    #: (``region_states.counted_entry``): the job's record of what it counted, so that every way of
    #: counting a region (``complete_region``, the model runner's two calls, the repairs) counts it once,
    #: by its latest outcome. Not the seed's; written only with the counters, never from an item.
    region_success_ids = UnicodeSetAttribute(null=True)
    region_error_ids = UnicodeSetAttribute(null=True)

    @classmethod
    def from_image_request(cls, image_request: Any) -> "JobItem":
        """A job item from any object carrying the seed's attributes.

        Text attributes given other values are stored as text, as the seed's item did (enums by
        value, lists and dicts as JSON, tuples with ``str``). An object with a ``roi`` geometry
        (``.wkt``) and no ``roi_wkt`` gives ``roi_wkt``.
        """
        values = attributes_from(cls, image_request)
        roi = getattr(image_request, "roi", None)
        if "roi_wkt" not in values and roi is not None:
            values["roi_wkt"] = getattr(roi, "wkt", None) or str(roi)
        return cls(**values)


class RegionRequestItem(SeedItem):
    """A region of an image job: one item per region, keyed by ``image_id`` and ``region_id``."""

    seed_order = ("region_id", "image_id", "job_id", "start_time", "last_updated_time", "end_time", "expire_time",
                  "image_read_role", "processing_duration", "message", "region_status", "total_tiles",
                  "failed_tiles", "failed_tile_count", "succeeded_tiles", "succeeded_tile_count", "region_bounds",
                  "region_retry_count", "tile_compression", "tile_format", "tile_overlap", "tile_size")

    region_id = UnicodeAttribute(range_key=True)
    image_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(null=True)
    start_time = NumberAttribute(null=True)
    last_updated_time = NumberAttribute(null=True)
    end_time = NumberAttribute(null=True)
    expire_time = ExpireTimeAttribute(null=True)
    image_read_role = UnicodeAttribute(null=True)
    processing_duration = NumberAttribute(null=True)
    message = UnicodeAttribute(null=True)
    region_status = UnicodeAttribute(null=True)
    total_tiles = NumberAttribute(null=True)
    failed_tiles = TileListAttribute(null=True)
    failed_tile_count = NumberAttribute(null=True)
    succeeded_tiles = TileListAttribute(null=True)
    succeeded_tile_count = NumberAttribute(null=True)
    region_bounds = BoxAttribute(null=True)
    region_retry_count = NumberAttribute(null=True)
    tile_compression = UnicodeAttribute(null=True)
    tile_format = UnicodeAttribute(null=True)
    tile_overlap = IntPairAttribute(null=True)
    tile_size = IntPairAttribute(null=True)

    @classmethod
    def from_region_request(cls, region_request: Any) -> "RegionRequestItem":
        """A region item from any object carrying the seed's attributes (tuples become lists)."""
        return cls(**attributes_from(cls, region_request))


Batch = Dict[TileState, List[Box]]


TileKey = Tuple[Tuple[int, ...], ...]


def tile_lists(state: TileState) -> Tuple[TileListAttribute, NumberAttribute]:
    """The list and count attributes that record tiles of ``state``."""
    if state is TileState.SUCCEEDED:
        return RegionRequestItem.succeeded_tiles, RegionRequestItem.succeeded_tile_count
    return RegionRequestItem.failed_tiles, RegionRequestItem.failed_tile_count


def recorded(item: Optional[RegionRequestItem], state: TileState) -> List[Box]:
    """The tiles ``item`` holds in ``state``'s list."""
    return list(getattr(item, tile_lists(state)[0].attr_name) or []) if item is not None else []


def tile_key(tile: Box) -> TileKey:
    """A tile as a hashable value (tiles are recorded by content)."""
    return tuple(tuple(pair) for pair in tile)


def length(attribute: Any) -> Any:
    """The stored list's length (or text's size), as an operand of a condition."""
    return size(attribute)  # type: ignore[no-untyped-call]  # (PynamoDB leaves it unannotated)


def is_outcome(status: Any) -> bool:
    """Whether ``status`` (a status's stored value) is an outcome: ``SUCCESS``, ``PARTIAL`` or ``FAILED``."""
    return status in TERMINAL_VALUES
