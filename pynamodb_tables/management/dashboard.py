"""``dashboard``: a CloudWatch dashboard (a ``PutDashboard`` body) graphing the metrics ``emf_listener`` writes.

Every graph is a metric math ``SEARCH`` of the EMF namespace by the dimensions the lines carry
(``Operation``, ``Table``), so each operation of each table gets its own line, whichever
operations the workers run, and a new operation shows up without a new dashboard. Where the
tables are named (``--job-table``, ``--region-table`` or their variables), the graphs are of
those two tables only.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..observing import DIMENSIONS

WIDTH, HEIGHT = 12, 6  # half of the dashboard's 24 columns
PERIOD_S = 60

#: The graphs: title, metric, statistic.
GRAPHS: Tuple[Tuple[str, str, str], ...] = (
    ("Calls per operation", "Duration", "SampleCount"),
    ("Latency p99 per operation (ms)", "Duration", "p99"),
    ("Throttled requests sent again", "Throttles", "Sum"),
    ("Transaction conflicts (requests sent again)", "Conflicts", "Sum"),
    ("Lost answers (requests sent again)", "LostAnswers", "Sum"),
    ("Server errors and requests not sent (sent again)", "ServerErrors", "Sum"),
    ("Read capacity units per operation", "ReadUnits", "Sum"),
    ("Write capacity units per operation", "WriteUnits", "Sum"),
    ("Operations that raised", "Errors", "Sum"),
)
#: A graph's further metrics, beside its first.
ALSO = {"ServerErrors": ("NotSent",)}


def quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def search(namespace: str, metric: str, statistic: str, tables: Sequence[str]) -> str:
    """A ``SEARCH`` expression: ``metric`` of every operation (of ``tables``, if any) in ``namespace``."""
    schema = ",".join(quoted(name) for name in (namespace, *DIMENSIONS))
    terms = f"MetricName={quoted(metric)}"
    if tables:
        terms += " (" + " OR ".join(f"Table={quoted(table)}" for table in tables) + ")"
    return f"SEARCH('{{{schema}}} {terms}', '{statistic}', {PERIOD_S})"


def graph(title: str, metric: str, statistic: str, namespace: str, region: str, tables: Sequence[str],
          position: Tuple[int, int]) -> Dict[str, Any]:
    names = (metric, *ALSO.get(metric, ()))
    metrics: List[Any] = []
    for n, name in enumerate(names):
        query: Dict[str, Any] = {"expression": search(namespace, name, statistic, tables), "id": f"m{n}"}
        if len(names) > 1:  # which metric each line is, beside its operation and table
            query["label"] = f"{name} ${{LABEL}}"
        metrics.append([query])
    return {"type": "metric", "x": position[0], "y": position[1], "width": WIDTH, "height": HEIGHT,
            "properties": {"title": title, "region": region, "view": "timeSeries", "stacked": False,
                           "period": PERIOD_S, "stat": statistic, "metrics": metrics,
                           "yAxis": {"left": {"min": 0}}}}


def dashboard(namespace: str, region: str, tables: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The dashboard body: a heading, then a graph per :data:`GRAPHS`, two by two."""
    which = f"tables {', '.join(tables)}" if tables else "every table"
    widgets: List[Dict[str, Any]] = [{
        "type": "text", "x": 0, "y": 0, "width": 2 * WIDTH, "height": 2,
        "properties": {"markdown": f"## pynamodb_tables operations\nCloudWatch namespace `{namespace}`, {which}: "
                                   "the lines `emf_listener` writes, one per operation (dimensions `Operation`, "
                                   "`Table`). Resends are counted by cause."}}]
    for n, (title, metric, statistic) in enumerate(GRAPHS):
        position = ((n % 2) * WIDTH, 2 + (n // 2) * HEIGHT)
        widgets.append(graph(title, metric, statistic, namespace, region, tables or (), position))
    return {"widgets": widgets}
