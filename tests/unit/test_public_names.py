"""Each table's public names are its documented API: the contract's methods and a few documented
extras. The plumbing (keys, reads, writes, the buffer's hooks) is private, in the table's store."""

from typing import Any, FrozenSet

import pytest

from pynamodb_tables import ImageRequestTable, JobTable, RegionRequestTable

#: What both tables document beside their methods: where they are, and what they send on.
SHARED = frozenset({"table_name", "host", "region", "settings", "model", "clients"})
JOB_METHODS = frozenset({"start_image_request", "complete_region_request", "is_image_request_complete",
                         "end_image_request", "get_image_request", "update_image_request",
                         "get_processing_duration"})
REGION_METHODS = frozenset({"start_region_request", "complete_region_request", "update_region_request",
                            "get_region_request", "add_tile", "add_tiles", "list_regions"})
#: The region table's buffered tiles (``tile_flush_seconds``, ``flush``) and its many-state tile write.
REGION_EXTRAS = frozenset({"record_tiles", "flush", "tile_flush_seconds"})


def public_names(table: Any) -> FrozenSet[str]:
    return frozenset(name for name in dir(table) if not name.startswith("_"))


@pytest.mark.parametrize("table_class,documented", [
    (JobTable, JOB_METHODS | SHARED),
    (ImageRequestTable, JOB_METHODS | SHARED),  # (the job table under the model runner v3's name)
    (RegionRequestTable, REGION_METHODS | REGION_EXTRAS | SHARED),
])
def test_a_tables_public_names_are_its_documented_api(table_class: Any, documented: FrozenSet[str]) -> None:
    table = table_class("names-test", host="http://localhost:1", region="us-east-1")
    assert public_names(table) == documented
