"""The OpenTelemetry adapter (``pynamodb_tables[otel]``): one span per operation, checked with the SDK's
in-memory exporter."""

import json
import subprocess
import sys
from typing import Any, Iterator, Tuple

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pynamodb_tables import (
    ImageRequestExistsError,
    JobItem,
    JobTable,
    RegionRequestItem,
    RegionRequestTable,
    RequestStatus,
    complete_region,
    subscribe,
)
from pynamodb_tables.otel import tracing_listener


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    unsubscribe = subscribe(tracing_listener(provider))
    yield exporter
    unsubscribe()


@pytest.mark.dynamodb_local
def test_a_span_per_operation_with_dynamodbs_attributes(spans: InMemorySpanExporter, dynamodb_local: Any) -> None:
    tables: Tuple[JobTable, RegionRequestTable] = (JobTable("jobs-otel", host=dynamodb_local.endpoint),
                                                    RegionRequestTable("regions-otel", host=dynamodb_local.endpoint))
    for table in tables:
        table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    try:
        tables[0].start_image_request(JobItem("img", "job", region_count=1))
        region = tables[1].start_region_request(RegionRequestItem("r", "img", "job"))
        complete_region(*tables, region, RequestStatus.SUCCESS)
        with pytest.raises(ImageRequestExistsError) as exists:
            tables[0].start_image_request(JobItem("img", "another-job", region_count=1))
    finally:
        for table in tables:
            table.model.delete_table()
    finished = spans.get_finished_spans()
    assert [span.name for span in finished] == ["start_image_request", "start_region_request", "complete_region",
                                                "start_image_request"]
    completed = finished[2]
    attributes = dict(completed.attributes or {})
    assert completed.kind is SpanKind.CLIENT and completed.status.status_code is StatusCode.UNSET
    assert (attributes["db.system"], attributes["db.system.name"], attributes["db.operation.name"]) == \
        ("dynamodb", "aws.dynamodb", "complete_region")
    assert (attributes["rpc.system"], attributes["rpc.service"]) == ("aws-api", "DynamoDB")
    assert attributes["aws.dynamodb.table_names"] == ("jobs-otel", "regions-otel")
    assert [json.loads(entry) for entry in attributes["aws.dynamodb.consumed_capacity"]] == [
        {"TableName": "jobs-otel", "CapacityUnits": 3.0, "ReadCapacityUnits": 1.0, "WriteCapacityUnits": 2.0},
        {"TableName": "regions-otel", "CapacityUnits": 2.0, "ReadCapacityUnits": 0.0, "WriteCapacityUnits": 2.0}]
    assert (attributes["pynamodb_tables.sends"], attributes["pynamodb_tables.retries"]) == (2, 0)
    assert {name: value for name, value in attributes.items() if name.startswith("pynamodb_tables.retries.")} == {
        f"pynamodb_tables.retries.{cause}": 0
        for cause in ("throttled", "conflict", "answer_lost", "not_sent", "server_error")}
    assert (attributes["pynamodb_tables.key.image_id"], attributes["pynamodb_tables.key.region_id"]) == ("img", "r")
    assert completed.start_time is not None and completed.end_time is not None
    assert completed.start_time < completed.end_time

    refused = finished[3]
    assert refused.status.status_code is StatusCode.ERROR and "ImageRequestExistsError" in str(
        refused.status.description)
    assert dict(refused.attributes or {})["error.type"] == "ImageRequestExistsError"
    [recorded] = [event for event in refused.events if event.name == "exception"]
    assert dict(recorded.attributes or {})["exception.message"] == str(exists.value)


def test_the_library_never_imports_opentelemetry() -> None:
    code = "import sys, pynamodb_tables, pynamodb_tables.management.cli; print(any(" \
           "name.startswith('opentelemetry') for name in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
