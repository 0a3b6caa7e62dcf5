"""A process that opens many tables keeps only what the tables it still uses need: the bound models,
their clients and the tile buffers are held weakly or bounded (a test suite of uuid-named tables, a
long-lived worker that opens tables by name)."""

import gc

from moto import mock_aws

from pynamodb_tables import JobItem, JobTable, RegionRequestItem, RegionRequestTable, connection, store, tile_buffer


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def open_use_and_drop(first: int, count: int) -> None:
    """``count`` pairs of tables, each made, used (a job, a region, a buffered tile) and dropped."""
    for n in range(first, first + count):
        jobs, regions = JobTable(f"jobs-{n:04d}"), RegionRequestTable(f"regions-{n:04d}", tile_flush_seconds=5)
        for table in (jobs, regions):
            table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        jobs.start_image_request(JobItem("img", "job", region_count=1))
        regions.start_region_request(RegionRequestItem("r", "img", "job"))
        regions.add_tile("img", "r", [[0, 0], [16, 16]], "succeeded")  # buffered
        regions.flush()
        assert regions.get_region_request("r", "img").succeeded_tile_count == 1


@mock_aws  # (the package's own memory: one backend is enough, and moto forgets its 1,000 tables)
def test_memory_flat_across_500_table_objects_opened_and_dropped():
    open_use_and_drop(0, 50)  # (100 table objects: every client and cache the process needs is made)
    gc.collect()
    after_100 = resident_mb()
    open_use_and_drop(50, 200)  # 400 more (each one used to keep a botocore client of some 10 MB)
    gc.collect()
    after_500 = resident_mb()
    assert after_500 - after_100 < 20, f"{after_100:.0f} MB after 100 table objects, {after_500:.0f} MB after 500"
    kept = [key for key in list(store._bound) if key[1].startswith(("jobs-0", "regions-0"))]
    assert len(kept) <= 2, f"bound models of dropped tables are kept: {len(kept)}"
    assert connection.shared_connection.cache_info().currsize <= 32
    buffers = [key for key in list(tile_buffer._buffers._by_table) if key[0].startswith("regions-0")]
    assert len(buffers) <= 1, f"buffers of dropped tables are kept: {len(buffers)}"
