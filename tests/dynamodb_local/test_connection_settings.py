"""The contract's connection settings: PynamoDB's names as keywords, applied to every call, transactions too."""

import pytest

from pynamodb_tables import JobItem, JobTable, RegionRequestItem, RegionRequestTable, RequestStatus, complete_region
from pynamodb_tables.connection import MIN_POOL_CONNECTIONS
from tests.support.faults import FaultInjector


def config_of(client):
    return client.meta.config


@pytest.mark.parametrize("table_class", [JobTable, RegionRequestTable])
def test_settings_reach_the_tables_and_their_transactions(table_class):
    table = table_class("settings-test", connect_timeout_seconds=2, read_timeout_seconds=7.5,
                        max_retry_attempts=6, max_pool_connections=64)
    for client in table.clients():  # (its own requests and its transactions go out on one client)
        config = config_of(client)
        assert (config.connect_timeout, config.read_timeout, config.max_pool_connections) == (2, 7.5, 64)
        assert config.retries["total_max_attempts"] == 1  # the package owns retries ...
    assert table.settings.max_retry_attempts == 6  # ... and makes this many


@pytest.mark.parametrize("table_class", [JobTable, RegionRequestTable])
def test_defaults_fit_a_worker_of_many_threads(table_class):
    for client in table_class("defaults-test").clients():
        assert config_of(client).max_pool_connections >= MIN_POOL_CONNECTIONS == 50


@pytest.mark.parametrize(("keywords", "error", "complaint"), [
    ({"read_timeout": 3}, TypeError, "read_timeout"),
    ({"retries": 3}, TypeError, "connection settings are"),
    ({"max_retry_attempts": -1}, ValueError, "max_retry_attempts"),
    ({"max_retry_attempts": 1.5}, ValueError, "max_retry_attempts"),
    ({"max_pool_connections": 0}, ValueError, "max_pool_connections"),
    ({"read_timeout_seconds": 0}, ValueError, "read_timeout_seconds"),
    ({"connect_timeout_seconds": float("nan")}, ValueError, "connect_timeout_seconds"),
    ({"connect_timeout_seconds": True}, ValueError, "connect_timeout_seconds"),
])
def test_unknown_or_bad_settings(keywords, error, complaint):
    for table_class in (JobTable, RegionRequestTable):
        with pytest.raises(error, match=complaint):
            table_class("bad-settings", **keywords)


def test_tables_with_other_settings_use_other_clients():
    plain, tuned = RegionRequestTable("side-by-side"), RegionRequestTable("side-by-side", read_timeout_seconds=3)
    assert plain.model is not tuned.model
    assert plain.clients()[0] is not tuned.clients()[0]
    assert RegionRequestTable("side-by-side", read_timeout_seconds=3).clients() == tuned.clients()


def test_tables_of_one_endpoint_region_and_settings_share_one_client():
    jobs, regions, other = JobTable("share-jobs"), RegionRequestTable("share-regions"), JobTable("share-other")
    assert len(jobs.clients()) == 1 and jobs.clients() == regions.clients() == other.clients()
    assert jobs.model is not other.model  # (each its own table, on the one client)


@pytest.mark.dynamodb_local
def test_complete_region_sends_on_the_region_tables_settings(dynamodb_local):
    job_table = JobTable("jobs-settings", host=dynamodb_local.endpoint)
    region_table = RegionRequestTable("regions-settings", host=dynamodb_local.endpoint, max_retry_attempts=5)
    for table in (job_table, region_table):
        table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    try:
        job_table.start_image_request(JobItem("img", region_count=1))
        region = region_table.start_region_request(RegionRequestItem("r", "img"))
        # Five server errors in a row: the region table's five retries carry the transaction through
        # (the job table's default three would not).
        injector = FaultInjector("server-error", every=1, operations=["TransactWriteItems"], limit=5)
        injector.install(region_table.clients())
        try:
            job = complete_region(job_table, region_table, region, RequestStatus.SUCCESS)
        finally:
            injector.remove()
        assert injector.injected["TransactWriteItems"] == 5 and job.region_success == 1
    finally:
        for table in (job_table, region_table):
            table.model.delete_table()
