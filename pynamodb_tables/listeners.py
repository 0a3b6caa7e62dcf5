"""The package's own listeners of operation events: CloudWatch metrics, and sums per operation
(OpenTelemetry spans: ``otel.py``, the ``otel`` extra).

:func:`emf_listener` writes one Embedded Metric Format (EMF) JSON line per operation.
A CloudWatch agent, or Lambda, reading the lines a worker writes turns them into metrics in
``namespace``, with the dimensions ``Operation`` and ``Table`` (the format the model runner's own
metrics use). The lines are written by the package itself: no dependency. The key of the item and
the error's type are plain members of each line (searchable in CloudWatch Logs Insights), never
dimensions (one metric per image would cost one metric per image).

An :class:`EventSummary` is a listener (``subscribe(summary)``) summing events per operation: calls,
errors, latency percentiles, sends, resends by cause, capacity. What it holds, per operation, is plain
data (:class:`OperationFigures`), which can be merged across threads or processes::

    summary = EventSummary()
    unsubscribe = subscribe(summary)
    ...  # the worker's calls
    figures = summary.figures()  # {"add_tile": OperationFigures(calls=..., ...), ...}
"""

import json
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import InvalidRequestError
from .observing import RETRY_CAUSES, Listener, OperationEvent

DEFAULT_NAMESPACE = "PynamoDBTables"


DIMENSIONS = ("Operation", "Table")


#: Each metric of a line and its CloudWatch unit. The contract's eight, then a metric for each other cause of a resend.
METRICS: Tuple[Tuple[str, str], ...] = (
    ("Duration", "Milliseconds"),
    ("Sends", "Count"),
    ("Retries", "Count"),
    ("Throttles", "Count"),
    ("Conflicts", "Count"),
    ("ReadUnits", "Count"),
    ("WriteUnits", "Count"),
    ("Errors", "Count"),
    ("LostAnswers", "Count"),
    ("NotSent", "Count"),
    ("ServerErrors", "Count"),
)


_NAMESPACE = re.compile(r"[A-Za-z0-9._/#: -]{1,255}")


def namespace_problem(namespace: object) -> Optional[str]:
    """What makes ``namespace`` no CloudWatch namespace (``None``: it is one)."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace) or not namespace.strip():
        return ("a CloudWatch namespace is 1 to 255 letters, digits, spaces or . - _ / # :, "
                f"got {namespace!r}")
    if namespace.startswith("AWS/"):
        return f"namespaces starting with AWS/ are AWS's own, got {namespace!r}"
    return None


def metric_values(event: OperationEvent) -> Dict[str, float]:
    """The value of each of :data:`METRICS` for ``event``."""
    retries = event.retries
    return {
        "Duration": round(event.duration_ms, 3),
        "Sends": event.sends,
        "Retries": event.retried,
        "Throttles": retries.get("throttled", 0),
        "Conflicts": retries.get("conflict", 0),
        "ReadUnits": event.read_units,
        "WriteUnits": event.write_units,
        "Errors": 0 if event.error is None else 1,
        "LostAnswers": retries.get("answer_lost", 0),
        "NotSent": retries.get("not_sent", 0),
        "ServerErrors": retries.get("server_error", 0),
    }


def emf_document(event: OperationEvent, namespace: str = DEFAULT_NAMESPACE) -> Dict[str, Any]:
    """``event`` as one EMF document: the metadata (``_aws``), the dimensions and metrics at the top level,
    and the key and error type as plain members."""
    document: Dict[str, Any] = {
        "_aws": {
            "Timestamp": int(event.started_at * 1000),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [list(DIMENSIONS)],
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRICS],
            }],
        },
        "Operation": event.operation,
        "Table": event.table or "",
    }
    document.update(metric_values(event))
    document.update({name: value for name, value in event.key.items() if name not in document})
    if event.error is not None:
        document["ErrorType"] = type(event.error).__name__
    return document


def emf_listener(stream: Optional[IO[str]] = None, namespace: str = DEFAULT_NAMESPACE) -> Listener:
    """A listener writing one EMF JSON line per event to ``stream`` (default: ``sys.stdout`` as it is
    when each line is written), in ``namespace``; lines from many threads never interleave."""
    problem = namespace_problem(namespace)
    if problem is not None:
        raise InvalidRequestError(f"emf_listener: bad namespace: {problem}")
    lock = threading.Lock()

    def write(event: OperationEvent) -> None:
        line = json.dumps(emf_document(event, namespace), separators=(",", ":"), default=str) + "\n"
        out = stream if stream is not None else sys.stdout
        with lock:
            out.write(line)
            out.flush()

    return write


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
