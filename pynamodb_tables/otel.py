"""Events as OpenTelemetry spans: ``pip install 'pynamodb_tables[otel]'`` (``opentelemetry-api``).

::

    from pynamodb_tables import subscribe
    from pynamodb_tables.otel import tracing_listener

    subscribe(tracing_listener())  # the global tracer provider, or tracing_listener(provider)

Each operation becomes one span, named after it (``add_tile``, ``complete_region``...), of kind
``CLIENT``, with its real start and end times, child of the span current in the thread that
called the operation. Its attributes follow OpenTelemetry's semantic conventions for DynamoDB
(``db.system``, and its newer name ``db.system.name``; ``db.operation.name``; ``rpc.system``,
``rpc.service``; ``aws.dynamodb.table_names``; ``aws.dynamodb.consumed_capacity``, one JSON
object per table), plus the package's own: ``pynamodb_tables.sends``,
``pynamodb_tables.retries`` and one ``pynamodb_tables.retries.<cause>`` per cause, and the
item's key (``pynamodb_tables.key.<attribute>``). An operation that raised has status
``ERROR``, ``error.type`` and the exception recorded.

Only this module imports ``opentelemetry``; ``import pynamodb_tables`` never does.
"""

import json
from typing import Any, Dict, List, Optional

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import __version__
from .observing import Listener, OperationEvent

INSTRUMENTATION = "pynamodb_tables"


def span_attributes(event: OperationEvent) -> Dict[str, Any]:
    """The attributes of ``event``'s span."""
    tables: List[str] = sorted({*([event.table] if event.table else []), *event.units_by_table})
    capacity = [json.dumps({"TableName": table, "CapacityUnits": read + write, "ReadCapacityUnits": read,
                            "WriteCapacityUnits": write}, sort_keys=True)
                for table, (read, write) in sorted(event.units_by_table.items())]
    attributes: Dict[str, Any] = {
        "db.system": "dynamodb",
        "db.system.name": "aws.dynamodb",
        "db.operation.name": event.operation,
        "rpc.system": "aws-api",
        "rpc.service": "DynamoDB",
        "aws.dynamodb.table_names": tables,
        "aws.dynamodb.consumed_capacity": capacity,
        "pynamodb_tables.sends": event.sends,
        "pynamodb_tables.retries": event.retried,
        **{f"pynamodb_tables.retries.{cause}": count for cause, count in event.retries.items()},
        **{f"pynamodb_tables.key.{name}": str(value) for name, value in event.key.items()},
    }
    if event.error is not None:
        attributes["error.type"] = type(event.error).__qualname__
    return attributes


def tracing_listener(tracer_provider: Optional[trace.TracerProvider] = None) -> Listener:
    """A listener turning each event into a span of ``tracer_provider`` (default: the global one)."""
    tracer = trace.get_tracer(INSTRUMENTATION, __version__, tracer_provider=tracer_provider)

    def record(event: OperationEvent) -> None:
        start = int(event.started_at * 1e9)
        span = tracer.start_span(event.operation, kind=SpanKind.CLIENT, attributes=span_attributes(event),
                                 start_time=start)
        if event.error is not None:
            span.record_exception(event.error)
            span.set_status(Status(StatusCode.ERROR, f"{type(event.error).__name__}: {event.error}"))
        span.end(end_time=start + int(event.duration_ms * 1e6))

    return record
