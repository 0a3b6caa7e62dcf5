"""A pytest plugin (``-p tables_v3``): after each test of the model runner v3, while its moto is still up, what
its image request and region request tables hold, written to ``$V3_TABLES`` (one JSON line per test).

A line is ``{"test": id, "tables": {"image": [...], "region": [...]}}``, each item as plain JSON, keeping only
the attributes v3's own items declare (so the package's own bookkeeping, such as the job's record of the
regions it counted, is not compared), leaving out the values that differ between any two runs (times,
durations, time to live), and a region's empty tile list as none (the package starts a region with both
lists empty; v3 leaves a list out until it holds a tile). ``run_tests.py`` compares the lines of a run on v3's
own modules with those of a run on this package.
"""

import json
import os
from decimal import Decimal
from typing import Any, Dict, Iterator, List

import pytest

#: Attributes whose values differ between any two runs.
VOLATILE = {"start_time", "end_time", "last_updated_time", "expire_time", "processing_duration"}
#: The attributes of v3's own items (its ImageRequestItem and RegionRequestItem dataclasses), by table.
DECLARED = {
    "image": {"image_id", "job_id", "image_url", "image_read_role", "model_invoke_mode", "start_time",
              "expire_time", "end_time", "region_success", "region_error", "region_count", "width", "height",
              "tile_size", "tile_overlap", "model_name", "outputs", "processing_duration", "feature_properties",
              "feature_distillation_option", "roi_wkt"},
    "region": {"region_id", "image_id", "job_id", "start_time", "last_updated_time", "end_time", "expire_time",
               "image_read_role", "processing_duration", "message", "region_status", "total_tiles", "failed_tiles",
               "failed_tile_count", "succeeded_tiles", "succeeded_tile_count", "region_bounds",
               "region_retry_count", "tile_compression", "tile_format", "tile_overlap", "tile_size"},
}
ENV = {"image": "IMAGE_REQUEST_TABLE", "region": "REGION_REQUEST_TABLE"}


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, (list, tuple)):
        return [plain(each) for each in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(each) for each in value)
    if isinstance(value, dict):
        return {key: plain(each) for key, each in sorted(value.items())}
    return value


def sorted_tiles(item: Dict[str, Any], role: str) -> Dict[str, Any]:
    """A region's tile lists sorted (tile workers append in either order), and an empty list as no list: the
    package starts a region with both lists empty, where v3 leaves a list out until it holds a tile."""
    for name in ("succeeded_tiles", "failed_tiles") if role == "region" else ():
        if item.get(name) == []:
            del item[name]
        elif isinstance(item.get(name), list):
            item[name] = sorted(item[name], key=json.dumps)
    return item


def scan(role: str) -> List[Dict[str, Any]]:
    import boto3
    from moto.core.models import botocore_stubber

    if not botocore_stubber.enabled:  # (the test's moto is not up: nothing to read, and no AWS to ask)
        return []
    try:
        resource = boto3.resource("dynamodb", region_name=os.environ.get("AWS_DEFAULT_REGION"))
        table = resource.Table(os.environ[ENV[role]])
        items: List[Dict[str, Any]] = table.scan(ConsistentRead=True).get("Items", [])
    except Exception:  # (no moto, or no such table: the test made none)
        return []
    kept = [sorted_tiles({name: plain(value) for name, value in item.items()
                          if name in DECLARED[role] and name not in VOLATILE}, role) for item in items]
    return sorted(kept, key=json.dumps)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield
    path = os.environ.get("V3_TABLES")
    if not path:
        return
    tables = {role: scan(role) for role in ENV}
    if any(tables.values()):
        with open(path, "a") as out:
            out.write(json.dumps({"test": item.nodeid, "tables": tables}) + "\n")
