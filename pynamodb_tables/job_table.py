"""The job table: one item per image, counting the outcomes of its regions."""

from typing import Any, Dict, Optional

from . import clock, validation
from .base_table import BoundTable, ConditionNotMet, Write, transact
from .errors import (
    CompleteRegionException,
    EndImageException,
    GetImageRequestItemException,
    ImageAlreadyEndedError,
    ImageRequestExistsError,
    InvalidRequestError,
    IsImageCompleteException,
    StartImageException,
    UpdateImageException,
    located,
    table_operation,
)
from .items import absent, copy_stored, set_actions, settable, still, with_values
from .models import JobItem
from .retry import CONTENTION_ATTEMPTS, backoff
from .room import has_room_for, room_problem, sizes_as_in, values_size

__all__ = ["JOB_TABLE_ENV", "JobItem", "JobTable"]

JOB_TABLE_ENV = "JOB_TABLE"


COUNTERS = ("region_success", "region_error")


class JobTable(BoundTable[JobItem]):
    """The job table, named by ``table_name`` or the ``JOB_TABLE`` environment variable.

    Keywords: ``host``, ``region`` and PynamoDB's connection settings (``connect_timeout_seconds``,
    ``read_timeout_seconds``, ``max_retry_attempts``, ``max_pool_connections``).
    """

    env_var = JOB_TABLE_ENV
    key_names = ("image_id",)
    missing = "unknown image: no job item"

    def __init__(self, table_name: Optional[str] = None, *, host: Optional[str] = None,
                 region: Optional[str] = None, **connection_settings: Any) -> None:
        super().__init__(JobItem, table_name, host=host, region=region, **connection_settings)

    @table_operation
    def start_image_request(self, image_request_item: JobItem) -> JobItem:
        """Create the job with its start time, expiry and zeroed counters.

        Raises :class:`ImageRequestExistsError` (with the stored ``.item``) if the image
        was already started; nothing changes then.
        """
        operation = "start_image_request"
        given = validation.job_values(image_request_item)
        key = self.key(given["image_id"])
        now = clock.now_ms()
        values = settable(given, exclude=(*self.key_names, "end_time"))
        values.update(start_time=now, expire_time=clock.expire_time(now), processing_duration=0,
                      region_success=0, region_error=0)
        problem = room_problem(JobItem(**{**key, **values}))
        if problem is not None:
            raise InvalidRequestError(f"no room for these values: {problem}", operation=operation, key=key)
        try:  # a transaction, for its token: a resend of a start that landed is not refused as "exists"
            transact([Write(self, key, set_actions(JobItem, values), JobItem.image_id.does_not_exist())],
                     operation=operation, error=StartImageException)
        except ConditionNotMet as refused:
            raise self.error(ImageRequestExistsError, operation, key, "image request already started",
                             item=refused.stored) from refused.__cause__
        stored = self.instance(key)
        for name, value in values.items():
            setattr(stored, name, value)
        copy_stored(image_request_item, stored)
        return stored

    @table_operation
    def complete_region_request(self, image_id: str, error: bool) -> JobItem:
        """Add one to ``region_error`` (``error=True``) or ``region_success``, atomically, once per call."""
        operation = "complete_region_request"
        key = self.key(image_id)
        if not isinstance(error, bool):
            raise InvalidRequestError(f"error must be a bool, got {error!r}", operation=operation, key=key)
        counter = JobItem.region_error if error else JobItem.region_success
        try:  # a transaction, for its token: a resend after a lost answer does not count again
            transact([Write(self, key, [counter.add(1)], JobItem.image_id.exists())],
                     operation=operation, error=CompleteRegionException)
        except ConditionNotMet as refused:
            raise self.error(CompleteRegionException, operation, key, self.missing) from refused.__cause__
        try:
            return self.existing(key, operation, CompleteRegionException)
        except CompleteRegionException as exc:
            raise self.error(CompleteRegionException, operation, key,
                             f"the region was counted, but the job could not be read back: {exc.message}") \
                from exc.__cause__

    @staticmethod
    def is_image_request_complete(image_request_item: JobItem) -> bool:
        """Whether every expected region has an outcome: ``region_success + region_error >= region_count``."""
        with located("is_image_request_complete"):
            given = validation.item_values(image_request_item, JobItem)
        counts: Dict[str, int] = {name: given[name] for name in (*COUNTERS, "region_count") if name in given}
        unset = [name for name in (*COUNTERS, "region_count") if name not in counts]
        if unset:
            raise IsImageCompleteException(
                f"cannot tell whether the image is complete: {', '.join(unset)} unset",
                operation="is_image_request_complete",
                key={"image_id": given.get("image_id")},
            )
        return bool(counts["region_success"] + counts["region_error"] >= counts["region_count"])

    @table_operation
    def end_image_request(self, image_id: str) -> JobItem:
        """Record ``end_time`` and ``processing_duration``; exactly one caller ever succeeds.

        Later callers get :class:`ImageAlreadyEndedError` with the stored item; the stored
        ``end_time`` never moves.
        """
        operation = "end_image_request"
        key = self.key(image_id)
        stored: Optional[JobItem] = self.existing(key, operation, EndImageException)
        cause: Optional[BaseException] = None
        for attempt in range(CONTENTION_ATTEMPTS):
            if stored is None:
                raise self.error(EndImageException, operation, key, self.missing) from cause
            if stored.end_time is not None:
                break
            now = clock.now_ms()
            values: Dict[str, Any] = {"end_time": now}
            if stored.start_time is not None:
                values["processing_duration"] = clock.duration_s(int(stored.start_time), now)
            # Conditioned on the counters read, so the item returned is the item stored.
            condition = (JobItem.image_id.exists() & absent(JobItem.end_time)
                         & still(JobItem.region_success, stored.region_success)
                         & still(JobItem.region_error, stored.region_error))
            try:
                transact([Write(self, key, set_actions(JobItem, values), condition)],
                         operation=operation, error=EndImageException)
            except ConditionNotMet as refused:
                stored, cause = refused.stored, refused.__cause__  # ended by another, or counted since
                backoff(attempt)
                continue
            return with_values(stored, values)
        else:
            raise self.error(EndImageException, operation, key, "the job kept changing while ending; gave up")
        raise self.error(ImageAlreadyEndedError, operation, key, "image request already ended",
                         item=stored) from cause

    @table_operation
    def get_image_request(self, image_id: str) -> JobItem:
        """The stored job item (strongly consistent)."""
        key = self.key(image_id)
        return self.existing(key, "get_image_request", GetImageRequestItemException)

    @table_operation
    def update_image_request(self, image_request_item: JobItem) -> JobItem:
        """Write the item's set attributes and refresh ``processing_duration``.

        The counters (changed only by atomic adds) and ``end_time`` (owned by
        :meth:`end_image_request`) are never written from the item, so a stale copy cannot
        roll them back. Once the job has ended its ``processing_duration`` is kept.
        """
        operation = "update_image_request"
        given = validation.job_values(image_request_item)
        key = self.key(given["image_id"])
        stored = self._update(key, given, operation)
        copy_stored(image_request_item, stored)
        return stored

    def _update(self, key: Dict[str, str], given: Dict[str, Any], operation: str) -> JobItem:
        """Written without a read where a condition proves the values fit and the job is running, else
        decided again from the item the refusal returns: room checked exactly, the duration kept once
        the job has ended."""
        values = settable(given, exclude=(*self.key_names, *COUNTERS, "end_time", "processing_duration"))
        stored: Optional[JobItem] = None
        if given.get("start_time") is None:
            stored = self.existing(key, operation, UpdateImageException)
        cause: Optional[BaseException] = None
        for attempt in range(CONTENTION_ATTEMPTS):
            start_time = given.get("start_time", stored.start_time if stored is not None else None)
            sets = dict(values)
            running = stored is None or stored.end_time is None
            if running and start_time is not None:
                sets["processing_duration"] = self.get_processing_duration(int(start_time))
            if not sets:
                return stored if stored is not None else self.existing(key, operation, UpdateImageException)
            condition = JobItem.image_id.exists()
            if "processing_duration" in sets:
                condition &= absent(JobItem.end_time)  # an ended job keeps its duration
            if stored is None:
                room = has_room_for(JobItem, values_size(JobItem, sets), rewritten=sets)
                if room is None:  # too much for a proof: checked on the item as stored
                    stored = self.existing(key, operation, UpdateImageException)
                    continue
                condition &= room
            else:
                problem = room_problem(with_values(stored, sets), before=stored)
                if problem is not None:
                    raise self.error(UpdateImageException, operation, key, f"no room for these values: {problem}",
                                     item=stored) from cause
                condition &= sizes_as_in(stored, rewritten=sets)
            try:
                return self.update(key, set_actions(JobItem, sets), condition,
                                   operation=operation, error=UpdateImageException)
            except ConditionNotMet as refused:
                if refused.stored is None:
                    raise self.error(UpdateImageException, operation, key, self.missing) from refused.__cause__
                if stored is not None:
                    backoff(attempt)
                stored, cause = refused.stored, refused.__cause__
        raise self.error(UpdateImageException, operation, key, "the job kept changing while updating; gave up")

    @staticmethod
    def get_processing_duration(start_time_ms: int) -> int:
        """Whole seconds since ``start_time_ms`` (epoch milliseconds)."""
        with located("get_processing_duration"):
            start = validation.integer(start_time_ms, "start_time_ms (epoch milliseconds)")
        return clock.duration_s(start, clock.now_ms())
