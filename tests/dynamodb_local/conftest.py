"""Fixtures the DynamoDB Local tests share beside the suite's (``tests/conftest.py``)."""

import uuid

import pytest

from pynamodb_tables import JobTable, RegionRequestTable, tile_buffer


@pytest.fixture
def buffering_names(dynamodb_local):
    """``(job table, region table, endpoint)``: two tables of the test's own, created; at the end the
    process's tile buffers are emptied (nothing written into deleted tables at exit) and the tables deleted."""
    suffix = uuid.uuid4().hex[:8]
    jobs, regions = JobTable(f"jobs-{suffix}", host=dynamodb_local.endpoint), \
        RegionRequestTable(f"regions-{suffix}", host=dynamodb_local.endpoint)
    for table in (jobs, regions):
        table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    yield jobs.table_name, regions.table_name, dynamodb_local.endpoint
    tile_buffer._forget_all()
    for table in (jobs, regions):
        table.model.delete_table()
