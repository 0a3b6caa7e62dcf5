"""``dashboard``: a CloudWatch dashboard of the metrics ``emf_listener`` writes, a valid ``PutDashboard`` body."""

import json
import re
from typing import Any, Dict, List

import botocore.session
import pytest
from moto import mock_aws

from pynamodb_tables.listeners import DIMENSIONS, METRICS
from tests.support.management import cli

SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\} MetricName=\"(?P<metric>\w+)\"(?P<tables>[^']*)', "
                    r"'(?P<stat>\w+)', (?P<period>\d+)\)")


def dashboard_of(capsys: pytest.CaptureFixture[str], *args: str) -> Dict[str, Any]:
    result = cli(capsys, "dashboard", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def graphs(body: Dict[str, Any]) -> Dict[str, List[Dict[str, str]]]:
    """Each metric widget's title and the searches it graphs."""
    found = {}
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            found[widget["properties"]["title"]] = [SEARCH.fullmatch(query["expression"]).groupdict()  # type: ignore
                                                    for [query] in widget["properties"]["metrics"]]
    return found


def test_a_put_dashboard_body_of_the_emf_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    body = dashboard_of(capsys, "--namespace", "Workers", "--region", "eu-west-1")
    assert set(body) == {"widgets"}
    cells = set()
    for widget in body["widgets"]:
        assert widget["type"] in ("metric", "text")
        assert set(widget) == {"type", "x", "y", "width", "height", "properties"}
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        assert x >= 0 and x + width <= 24 and y >= 0 and width > 0 and height > 0
        area = {(col, row) for col in range(x, x + width) for row in range(y, y + height)}
        assert not area & cells  # no widget over another
        cells |= area
        if widget["type"] == "metric":
            properties = widget["properties"]
            assert properties["region"] == "eu-west-1" and properties["view"] == "timeSeries"
            ids = [query["id"] for [query] in properties["metrics"]]
            assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[a-z]\w*", each) for each in ids)
    searched = graphs(body)
    metrics = {name for name, _ in METRICS}
    for searches in searched.values():
        for each in searches:
            assert each["schema"] == ",".join(f'"{name}"' for name in ("Workers", *DIMENSIONS))
            assert each["metric"] in metrics and each["tables"] == "" and each["period"] == "60"
    by_metric = {(each["metric"], each["stat"]) for searches in searched.values() for each in searches}
    for wanted in [("Throttles", "Sum"), ("Conflicts", "Sum"), ("LostAnswers", "Sum"), ("Duration", "p99"),
                   ("ReadUnits", "Sum"), ("WriteUnits", "Sum"), ("Errors", "Sum")]:
        assert wanted in by_metric

    with mock_aws():  # CloudWatch's PutDashboard (moto's) takes it, and gives it back as it was
        client = botocore.session.get_session().create_client("cloudwatch", region_name="eu-west-1")
        answer = client.put_dashboard(DashboardName="image-jobs", DashboardBody=json.dumps(body))
        assert answer.get("DashboardValidationMessages", []) == []
        assert json.loads(client.get_dashboard(DashboardName="image-jobs")["DashboardBody"]) == body


def test_named_tables_are_the_only_ones_graphed(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGION_REQUEST_TABLE", "image-regions")
    body = dashboard_of(capsys, "--job-table", "image-jobs")  # the region from $AWS_DEFAULT_REGION
    searches = [each for searched in graphs(body).values() for each in searched]
    assert {each["tables"] for each in searches} == {' (Table="image-jobs" OR Table="image-regions")'}
    assert {widget["properties"].get("region") for widget in body["widgets"] if widget["type"] == "metric"} == \
        {"us-east-1"}
    assert '"PynamoDBTables"' in searches[0]["schema"]  # emf_listener's default namespace


def test_usage_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for namespace in ("AWS/DynamoDB", "", "bad'quote", "x" * 256):
        result = cli(capsys, "dashboard", "--namespace", namespace)
        assert result.returncode == 2 and "--namespace" in result.stderr and len(result.stderr.splitlines()) == 1
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = cli(capsys, "dashboard")
    assert result.returncode == 2 and "--region" in result.stderr and len(result.stderr.splitlines()) == 1
