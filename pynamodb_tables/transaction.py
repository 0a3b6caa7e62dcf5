"""Finishing a region: its outcome, its last tiles and the job's counter in one DynamoDB transaction."""

import logging
from typing import Dict, List, Mapping, Optional, Tuple

from pynamodb.expressions.update import Action

from . import validation
from .base_table import TransactionRefused, Write, transact
from .errors import CompleteRegionException, InvalidRequestError, located
from .items import copy_stored, set_actions, with_values
from .job_table import JobItem, JobTable
from .models import RegionRequestItem
from .region_request_table import RegionRequestTable
from .region_states import completion, terminal_status
from .retry import CONTENTION_ATTEMPTS, backoff
from .room import room_problem, tile_bytes
from .status import NON_TERMINAL_VALUES, TERMINAL_VALUES, RequestStatus
from .tiles import Batch, append_actions, new_tiles, recorded, tile_lists

logger = logging.getLogger("pynamodb_tables")

OPERATION = "complete_region"


def counter_actions(outcome: RequestStatus, counted_before: bool) -> List[Action]:
    """The job counter changes for a region reaching ``outcome``.

    ``SUCCESS`` counts in ``region_success``, ``PARTIAL`` and ``FAILED`` in ``region_error``.
    A region whose earlier outcome was counted (it can only have been an error: a
    ``SUCCESS`` region is never restarted) gives that count back first. When the counts stay
    as they are (an error after an error), the job still gets an update, adding 0: a write
    without actions would be a ``ConditionCheck``, which needs ``dynamodb:ConditionCheckItem``,
    an IAM action the model runner's worker role does not have (an update costs the same).
    """
    success = 1 if outcome is RequestStatus.SUCCESS else 0
    error = (1 - success) - (1 if counted_before else 0)
    actions: List[Action] = []
    if success:
        actions.append(JobItem.region_success.add(success))
    if error or not success:
        actions.append(JobItem.region_error.add(error))
    return actions


def is_running_copy(item: Optional[RegionRequestItem]) -> bool:
    """Whether ``item`` carries a stored region's running state (status and start time)."""
    return item is not None and item.start_time is not None and item.region_status in NON_TERMINAL_VALUES


def with_tiles(region: RegionRequestItem, values: Mapping[str, object], batch: Batch) -> RegionRequestItem:
    """``region`` with ``values`` set and ``batch`` appended: what the completion leaves."""
    result = with_values(region, values)
    for state, tiles in batch.items():
        tile_list, tile_count = tile_lists(state)
        setattr(result, tile_list.attr_name, recorded(region, state) + tiles)
        setattr(result, tile_count.attr_name, int(getattr(region, tile_count.attr_name) or 0) + len(tiles))
    return result


def finish_region(
    job_table: JobTable,
    region_table: RegionRequestTable,
    region_key: Dict[str, str],
    outcome: RequestStatus,
    *,
    region: Optional[RegionRequestItem] = None,
    tiles: Optional[Batch] = None,
    operation: str = OPERATION,
) -> Tuple[RegionRequestItem, JobItem]:
    """Move the region to ``outcome``, append ``tiles`` it lacks and count it in its job: one transaction.

    ``region``: the region as the table last returned it (a running copy saves the read; the
    transaction's conditions hold only while it is still what is stored). Returns the region
    and the job as stored afterwards. A region that already has an outcome is not counted
    again; tiles it lacks are still recorded (a late tile is recorded in any state).
    """
    job_key = job_table.key(region_key["image_id"])
    stored = region if is_running_copy(region) else None
    batch: Batch = {state: list(each) for state, each in (tiles or {}).items() if each}
    for attempt in range(CONTENTION_ATTEMPTS):
        if stored is None:
            stored = region_table.existing(region_key, operation, CompleteRegionException)
        if stored.region_status in TERMINAL_VALUES:
            logger.debug("%s %s: already %s, nothing to count", operation, region_key, stored.region_status)
            if new_tiles(stored, batch):
                stored = region_table.record_tiles(region_key["image_id"], region_key["region_id"], batch,
                                                   region=stored, operation=operation)
            return stored, job_table.existing(job_key, operation, CompleteRegionException)
        if stored.region_status is None:
            raise region_table.error(CompleteRegionException, operation, region_key, "region was never started")
        new = new_tiles(stored, batch)
        if new and room_problem(stored, extra=tile_bytes(new)):
            # The tiles would take the room the region keeps to complete: record them in a write of
            # their own, which raises RegionFullError with nothing written (the outcome can still be
            # recorded without them).
            stored = region_table.record_tiles(region_key["image_id"], region_key["region_id"], new,
                                               region=stored, operation=operation)
            continue
        values, region_condition = completion(stored, outcome)
        counted_before = stored.end_time is not None
        job_actions = counter_actions(outcome, counted_before)
        job_condition = JobItem.image_id.exists()
        if counted_before and outcome is RequestStatus.SUCCESS:
            job_condition &= JobItem.region_error >= 1
        writes = [Write(region_table, region_key, [*set_actions(RegionRequestItem, values), *append_actions(new)],
                        region_condition),
                  Write(job_table, job_key, job_actions, job_condition)]
        try:
            transact(writes, operation=operation, error=CompleteRegionException, settings_from=region_table)
        except TransactionRefused as refused:
            stored_region, stored_job = refused.stored_items
            if refused.refused[1] and stored_job is None:
                raise job_table.error(CompleteRegionException, operation, job_key, job_table.missing) \
                    from refused.__cause__
            if refused.refused[1] and not refused.refused[0]:
                raise job_table.error(
                    CompleteRegionException, operation, job_key,
                    "the region's earlier outcome is not counted in the job (was it counted with the seed's "
                    "complete_region_request calls?); not counted", item=stored_job) from refused.__cause__
            logger.debug("%s %s: refused (the region changed), attempt %d", operation, region_key, attempt + 1)
            stored = stored_region
            if stored is None:
                raise region_table.error(CompleteRegionException, operation, region_key, region_table.missing) \
                    from refused.__cause__
            backoff(attempt)
            continue
        logger.debug("%s %s: %s counted", operation, region_key, outcome.value)
        return with_tiles(stored, values, new), job_table.existing(job_key, operation, CompleteRegionException)
    raise region_table.error(CompleteRegionException, operation, region_key,
                             f"region kept changing: gave up after {CONTENTION_ATTEMPTS} transactions")


def complete_region(
    job_table: JobTable,
    region_table: RegionRequestTable,
    region_item: RegionRequestItem,
    region_status: RequestStatus,
) -> JobItem:
    """Record a region's outcome and count it in its job, both or neither; retry-safe.

    The region moves from running to ``region_status`` (``SUCCESS``, ``PARTIAL`` or
    ``FAILED``) and the job's ``region_success`` or ``region_error`` changes in the same
    transaction. Calling it again for a region that already has an outcome changes nothing.
    A region restarted after an outcome is counted by its latest outcome only. Returns the
    job item as stored afterwards; ``region_item`` then holds the region as stored.

    A ``region_item`` as the table returned it (``start_region_request``, ``add_tile``,
    ``update_region_request``) saves a read.
    """
    if not isinstance(job_table, JobTable) or not isinstance(region_table, RegionRequestTable):
        raise InvalidRequestError("complete_region needs a JobTable and a RegionRequestTable", operation=OPERATION)
    with located(OPERATION, region_table.table_name):
        image_id, region_id = validation.region_key(region_item)
        outcome = terminal_status(region_status)
    region, job = finish_region(job_table, region_table, region_table.key(image_id, region_id), outcome,
                                region=region_item)
    copy_stored(region_item, region)
    return job
