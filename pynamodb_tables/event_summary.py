"""Events summed per operation: calls, errors, latency percentiles, sends, resends by cause, capacity.

An :class:`EventSummary` is a listener (``subscribe(summary)``); what it holds, per operation, is
plain data (:class:`OperationFigures`), which can be merged across threads or processes::

    summary = EventSummary()
    unsubscribe = subscribe(summary)
    ...  # the worker's calls
    figures = summary.figures()  # {"add_tile": OperationFigures(calls=..., ...), ...}
"""

import threading
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Sequence

from .observing import RETRY_CAUSES, OperationEvent


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of ``values``, nearest rank (``nan`` for none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class OperationFigures:
    """One operation's events, summed."""

    calls: int = 0
    errors: int = 0
    sends: int = 0
    retries: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(RETRY_CAUSES, 0))
    read_units: float = 0.0
    write_units: float = 0.0
    durations_ms: List[float] = field(default_factory=list)

    @classmethod
    def of(cls, event: OperationEvent) -> "OperationFigures":
        """One event's figures."""
        return cls(1, int(event.error is not None), event.sends, dict(event.retries), event.read_units,
                   event.write_units, [event.duration_ms])

    def merge(self, other: "OperationFigures") -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.sends += other.sends
        for cause, count in other.retries.items():
            self.retries[cause] = self.retries.get(cause, 0) + count
        self.read_units += other.read_units
        self.write_units += other.write_units
        self.durations_ms += other.durations_ms

    def percentile_ms(self, q: float) -> float:
        return percentile(self.durations_ms, q)


class EventSummary:
    """A listener summing the events it is given, per operation (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: Dict[str, OperationFigures] = {}

    def __call__(self, event: OperationEvent) -> None:
        with self._lock:
            self._figures.setdefault(event.operation, OperationFigures()).merge(OperationFigures.of(event))

    def merge(self, figures: Mapping[str, OperationFigures]) -> None:
        """Add figures summed elsewhere (another process's)."""
        with self._lock:
            for operation, each in figures.items():
                self._figures.setdefault(operation, OperationFigures()).merge(each)

    def figures(self) -> Dict[str, OperationFigures]:
        """The figures so far, by operation (a copy)."""
        with self._lock:
            copy = {operation: OperationFigures() for operation in self._figures}
            for operation, each in self._figures.items():
                copy[operation].merge(each)
            return copy

    def take(self) -> Dict[str, OperationFigures]:
        """The figures so far, by operation; the summary starts again from none."""
        with self._lock:
            taken, self._figures = self._figures, {}
            return taken
