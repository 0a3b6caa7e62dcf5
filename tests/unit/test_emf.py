"""``emf_listener``: one CloudWatch Embedded Metric Format line per operation, checked against the format's
required structure."""

import functools
import io
import json
from types import MappingProxyType
from typing import Any, Dict, List

import pytest

from pynamodb_tables import (
    InvalidRequestError,
    JobItem,
    OperationEvent,
    RegionRequestItem,
    emf_listener,
    subscribe,
)
from pynamodb_tables.listeners import METRICS, emf_document
from tests.support.workers import in_threads

#: The units CloudWatch takes (``MetricDatum.Unit``).
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}


def check_emf(line: str) -> Dict[str, Any]:
    """``line`` is a valid EMF document: the root is a JSON object with ``_aws`` (``Timestamp``, epoch ms, and
    ``CloudWatchMetrics``: directives with ``Namespace``, ``Dimensions`` and ``Metrics``), every dimension a
    string member of the root, every metric a number member of the root."""
    assert line.endswith("\n") and "\n" not in line[:-1]
    document = json.loads(line)
    assert isinstance(document, dict)
    metadata = document["_aws"]
    assert isinstance(metadata["Timestamp"], int) and metadata["Timestamp"] > 1_600_000_000_000
    directives = metadata["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 1024
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str) and document[name]
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"} and metric["Unit"] in CLOUDWATCH_UNITS
            value = document[metric["Name"]]
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
    return document


def event(**changes: Any) -> OperationEvent:
    fields: Dict[str, Any] = dict(
        operation="add_tile", table="regions", key=MappingProxyType({"image_id": "i", "region_id": "r"}),
        duration_ms=12.5, sends=3, retries=MappingProxyType({"throttled": 1, "conflict": 0, "answer_lost": 1,
                                                             "not_sent": 0, "server_error": 0}),
        read_units=1.0, write_units=2.0, error=None, started_at=1_900_000_000.25)
    fields.update(changes)
    return OperationEvent(**fields)


def test_a_line_holds_the_dimensions_the_metrics_and_the_key() -> None:
    out = io.StringIO()
    emf_listener(out, namespace="Workers")(event())
    document = check_emf(out.getvalue())
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Workers" and directive["Dimensions"] == [["Operation", "Table"]]
    assert document["_aws"]["Timestamp"] == 1_900_000_000_250
    names = [metric["Name"] for metric in directive["Metrics"]]
    assert names[:8] == ["Duration", "Sends", "Retries", "Throttles", "Conflicts", "ReadUnits", "WriteUnits", "Errors"]
    assert directive["Metrics"][0]["Unit"] == "Milliseconds"
    assert {key: document[key] for key in (*names, "Operation", "Table", "image_id", "region_id")} == {
        "Duration": 12.5, "Sends": 3, "Retries": 2, "Throttles": 1, "Conflicts": 0, "ReadUnits": 1.0,
        "WriteUnits": 2.0, "Errors": 0, "LostAnswers": 1, "NotSent": 0, "ServerErrors": 0,
        "Operation": "add_tile", "Table": "regions", "image_id": "i", "region_id": "r"}
    assert "ErrorType" not in document


def test_a_failed_operation_counts_one_error_and_names_its_type() -> None:
    document = emf_document(event(error=InvalidRequestError("bad tile")))
    assert (document["Errors"], document["ErrorType"]) == (1, "InvalidRequestError")
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "PynamoDBTables"
    assert set(METRICS) == {(m["Name"], m["Unit"]) for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def test_the_default_stream_is_stdout_and_a_bad_namespace_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    emf_listener()(event())
    check_emf(capsys.readouterr().out)
    with pytest.raises(InvalidRequestError, match="namespace"):
        emf_listener(namespace="")


def test_operations_write_one_line_each_from_many_threads(backend: Any) -> None:
    job_table, region_table = backend.tables("emf")
    out = io.StringIO()
    unsubscribe = subscribe(emf_listener(out))
    try:
        job_table.start_image_request(JobItem("img", "job", region_count=8))
        in_threads([functools.partial(region_table.start_region_request, RegionRequestItem(f"r-{n}", "img", "job"))
                    for n in range(8)])
    finally:
        unsubscribe()
        if backend.name != "moto":
            for table in (job_table, region_table):
                table.model.delete_table()
    documents: List[Dict[str, Any]] = [check_emf(line + "\n") for line in out.getvalue().splitlines()]
    assert [(d["Operation"], d["Table"]) for d in documents][:1] == [("start_image_request", job_table.table_name)]
    assert sorted(d["region_id"] for d in documents[1:]) == [f"r-{n}" for n in range(8)]
    assert all(d["Sends"] == 1 and d["Errors"] == 0 for d in documents)
