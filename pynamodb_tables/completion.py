"""Finishing a region: its outcome and the job's counter in one DynamoDB transaction (``complete_region``)."""

from . import validation
from .errors import CompleteRegionException, InvalidRequestError, failing_as
from .finishing import finish
from .items import RegionRequestItem, RequestStatus, copy_stored
from .job_table import JobItem, JobTable
from .observing import observed
from .region_request_table import RegionRequestTable, own_values
from .region_states import terminal_status
from .store import store_of

OPERATION = "complete_region"


def complete_region(
    job_table: JobTable,
    region_table: RegionRequestTable,
    region_item: RegionRequestItem,
    region_status: RequestStatus,
) -> JobItem:
    """Record a region's outcome and count it in its job, both or neither; retry-safe.

    The region moves from running to ``region_status`` (``SUCCESS``, ``PARTIAL`` or
    ``FAILED``) and the job's ``region_success`` or ``region_error`` changes in the same
    transaction; the item's own attributes (``message``...) are written with the outcome where
    the region has room for them. Calling it again for a region that already has an outcome
    changes nothing. A region restarted after an outcome is counted by its latest outcome only.
    Returns the job item as stored afterwards; ``region_item`` then holds the region as stored.

    A ``region_item`` as the table returned it (``start_region_request``, ``add_tile``,
    ``update_region_request``) saves a read.
    """
    with observed(OPERATION, getattr(region_table, "table_name", None)):
        if not isinstance(job_table, JobTable) or not isinstance(region_table, RegionRequestTable):
            raise InvalidRequestError("complete_region needs a JobTable and a RegionRequestTable", operation=OPERATION)
        with failing_as(CompleteRegionException, OPERATION, region_table.table_name):
            given = validation.region_values(region_item)
            key = store_of(region_table).key(given["image_id"], given["region_id"])
            outcome = terminal_status(region_status)
            region, job = finish(region_table, job_table, key, outcome, region=RegionRequestItem(**given),
                                 values=own_values(given))
        assert job is not None
        copy_stored(region_item, region)
        return job
