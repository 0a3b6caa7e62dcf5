"""Values in the forms the seed's callers use: their enums, numpy-style integers, DynamoDB's Decimals.

The model runner's ``RequestStatus`` is a ``str`` enum whose values are generated from the
names, and its ``TileState`` a ``str`` enum with lower-case values; both are re-declared here
(not imported) so that the tests need no other package. ``Int64`` stands for a numpy integer:
a ``numbers.Integral`` that is not an ``int``.
"""

import numbers
from enum import Enum, auto
from pathlib import Path
from typing import Any, Dict, List


class _AutoName(Enum):
    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: List[Any]) -> str:
        return name


class ForeignRequestStatus(str, _AutoName):
    STARTED = auto()
    IN_PROGRESS = auto()
    PARTIAL = auto()
    SUCCESS = auto()
    FAILED = auto()


class ForeignTileState(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Int64:
    """A minimal integer type that is not an ``int`` (as numpy's ``int64`` is not)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __int__(self) -> int:
        return self.value

    __index__ = __int__

    def __repr__(self) -> str:
        return f"Int64({self.value})"


numbers.Integral.register(Int64)

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def seed_attribute_order() -> Dict[str, List[str]]:
    """Each seed class's attributes, in the order the seed documents list them."""
    order: Dict[str, List[str]] = {}
    current = None
    for path in sorted(SEEDS.glob("*.txt")):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(".. py:class:: "):
                current = stripped.split()[2].split("(")[0]
                order.setdefault(current, [])
            elif stripped.startswith(".. py:attribute:: ") and current is not None:
                order[current].append(stripped.split()[2])
    return order
