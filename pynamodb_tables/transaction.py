"""Finishing a region: its outcome and the job's counters in one DynamoDB transaction."""

import logging
import uuid
from typing import List, Optional

from botocore.exceptions import BotoCoreError
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from .base_table import (
    backoff,
    cancellation_reasons,
    describe_failure,
    is_retryable_cancellation,
    transaction_connection,
)
from .errors import CompleteRegionException, InvalidRequestError, located
from .items import copy_stored, set_actions
from .job_table import JobItem, JobTable
from .region_request_table import (
    RegionRequestItem,
    RegionRequestTable,
    check_region_item,
    completion,
    terminal_status,
    with_values,
)
from .status import NON_TERMINAL_VALUES, TERMINAL_VALUES, RequestStatus

logger = logging.getLogger("pynamodb_tables")

OPERATION = "complete_region"
#: Transactions tried (each after a fresh look) before giving up on a region under contention.
MAX_ATTEMPTS = 20


def counter_actions(outcome: RequestStatus, counted_before: bool) -> List[Action]:
    """The job counter changes for a region reaching ``outcome``.

    ``SUCCESS`` counts in ``region_success``, ``PARTIAL`` and ``FAILED`` in ``region_error``.
    A region whose earlier outcome was counted (it can only have been an error: a
    ``SUCCESS`` region is never restarted) gives that count back first.
    """
    success = 1 if outcome is RequestStatus.SUCCESS else 0
    error = (1 - success) - (1 if counted_before else 0)
    actions: List[Action] = []
    if success:
        actions.append(JobItem.region_success.add(success))
    if error:
        actions.append(JobItem.region_error.add(error))
    return actions


def _running_copy(item: RegionRequestItem) -> bool:
    """Whether ``item`` carries a stored region's running state (status and start time)."""
    return item.start_time is not None and item.region_status in NON_TERMINAL_VALUES


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
    job item as stored afterwards.
    """
    if not isinstance(job_table, JobTable) or not isinstance(region_table, RegionRequestTable):
        raise InvalidRequestError("complete_region needs a JobTable and a RegionRequestTable", operation=OPERATION)
    with located(OPERATION, region_table.table_name):
        image_id, region_id = check_region_item(region_item)
        outcome = terminal_status(region_status)
    region_key = region_table.key(image_id, region_id)
    job_key = job_table.key(image_id)
    connection = transaction_connection(region_table.host, region_table.region)

    # A region item as the table returned it (from start_region_request or a TileRecorder)
    # saves a read: the transaction's conditions hold only if it is still what is stored.
    stored: Optional[RegionRequestItem] = region_item if _running_copy(region_item) else None
    for attempt in range(MAX_ATTEMPTS):
        if stored is None:
            stored = region_table.existing(region_key, OPERATION, CompleteRegionException)
        if stored.region_status in TERMINAL_VALUES:
            logger.debug("%s %s: already %s, nothing to count", OPERATION, region_key, stored.region_status)
            copy_stored(region_item, stored)
            return job_table.existing(job_key, OPERATION, CompleteRegionException)
        if stored.region_status is None:
            raise region_table.error(CompleteRegionException, OPERATION, region_key, "region was never started")

        region_values, region_condition = completion(stored, outcome)
        region_actions = set_actions(RegionRequestItem, region_values)
        counted_before = stored.end_time is not None
        job_actions = counter_actions(outcome, counted_before)
        job_condition = JobItem.image_id.exists()
        if counted_before and outcome is RequestStatus.SUCCESS:
            job_condition &= JobItem.region_error >= 1
        # One token per attempt: botocore's own retries of this request reuse it, so a
        # request that timed out after landing is not applied again.
        token = str(uuid.uuid4())
        try:
            with TransactWrite(connection=connection, client_request_token=token) as transaction:
                transaction.update(region_table.instance(region_key), region_actions, region_condition)
                if job_actions:
                    transaction.update(job_table.instance(job_key), job_actions, job_condition)
                else:
                    transaction.condition_check(job_table.model, image_id, condition=job_condition)
        except TransactWriteError as exc:
            reasons = cancellation_reasons(exc)
            if "ConditionalCheckFailed" in reasons:
                if job_table.read(job_key, operation=OPERATION, error=CompleteRegionException) is None:
                    raise job_table.error(CompleteRegionException, OPERATION, job_key, job_table.missing) from exc
            elif is_retryable_cancellation(exc, reasons):
                backoff(attempt)
            else:
                raise region_table.error(CompleteRegionException, OPERATION, region_key,
                                         describe_failure(exc)) from exc
            logger.debug("%s %s: transaction cancelled (%s), attempt %d", OPERATION, region_key,
                         ", ".join(sorted(reasons)) or exc.cause_response_code, attempt + 1)
            stored = None  # look again: the region may have moved on, or reached its outcome
            continue
        except (PynamoDBException, BotoCoreError) as exc:
            raise region_table.error(CompleteRegionException, OPERATION, region_key, describe_failure(exc)) from exc
        logger.debug("%s %s: %s counted", OPERATION, region_key, outcome.value)
        copy_stored(region_item, with_values(stored, region_values))
        return job_table.existing(job_key, OPERATION, CompleteRegionException)
    raise region_table.error(CompleteRegionException, OPERATION, region_key,
                             f"region kept changing: gave up after {MAX_ATTEMPTS} transactions")
