"""What both item models share: seed-order construction, and moving values between items.

The seed's items were dataclasses, built positionally in their attribute order; PynamoDB's
``Model(hash_key, range_key)`` gives positional arguments another meaning. ``SeedItem``
keeps the seed's: ``RegionRequestItem("r", "i", "j")`` is ``region_id="r", image_id="i",
job_id="j"``. PynamoDB's own keywords (``hash_key=``, ``range_key=``) keep working.
"""

import json
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, ClassVar, Dict, Iterable, List, Mapping, Optional, Tuple, Type, TypeVar, cast

from pynamodb.attributes import Attribute, ListAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.constants import NULL
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.models import Model

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
