"""The job table: one item per image, counting the outcomes of its regions."""

from typing import Any, Dict, Optional

from . import clock, validation
from .completion import Tie, is_made_for, made_for, tie_for, untie
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
)
from .items import JobItem, copy_stored, set_actions, settable, with_values
from .observing import ConditionNotMet, Failed, located, table_operation
from .region_states import (
    ERROR_COUNT,
    SUCCESS_COUNT,
    count_actions,
    counter_name,
    is_new_attempt,
    job_can_count,
    job_can_end,
    job_counted,
    job_exists,
    job_is_new,
    job_is_running,
)
from .room import has_room_for, room_problem, sizes_as_in, values_size
from .store import BoundTable, Seen, Write, settle, transact

__all__ = ["IMAGE_REQUEST_TABLE_ENV", "JOB_TABLE_ENV", "ImageRequestItem", "ImageRequestTable", "JobItem", "JobTable"]

JOB_TABLE_ENV = "JOB_TABLE"
IMAGE_REQUEST_TABLE_ENV = "IMAGE_REQUEST_TABLE"


COUNTERS = ("region_success", "region_error")
#: The job's record of the regions it counted: written only with the counters.
COUNTED_IDS = ("region_success_ids", "region_error_ids")


class JobTable(BoundTable[JobItem]):
    """The job table, named by ``table_name`` or the ``JOB_TABLE`` environment variable.

    Keywords: ``host``, ``region`` and PynamoDB's connection settings (``connect_timeout_seconds``,
    ``read_timeout_seconds``, ``max_retry_attempts``, ``max_pool_connections``).
    """

    _env_var = JOB_TABLE_ENV
    _key_names = ("image_id",)
    _missing = "unknown image: no job item"

    def __init__(self, table_name: Optional[str] = None, *, host: Optional[str] = None,
                 region: Optional[str] = None, **connection_settings: Any) -> None:
        super().__init__(JobItem, table_name, host=host, region=region, **connection_settings)

    @table_operation(StartImageException)
    def start_image_request(self, image_request_item: JobItem) -> JobItem:
        """Create the job with its start time, expiry and zeroed counters.

        An image already started by the same job and not ended is a new attempt of it (the model runner's
        scheduler retries a stalled image; a queue may deliver its message twice): nothing changes, the
        stored job is returned (and copied onto ``image_request_item``). Raises
        :class:`ImageRequestExistsError` (with the stored ``.item``) if the image has ended or belongs to
        another job; nothing changes then either.
        """
        given = validation.job_values(image_request_item)
        key = self._store.key(given["image_id"])
        now = clock.now_ms()
        values = settable(given, exclude=(*self._key_names, *COUNTED_IDS, "end_time"))
        values.update(start_time=now, expire_time=clock.expire_time(now), processing_duration=0,
                      region_success=0, region_error=0)
        problem = room_problem(JobItem(**{**key, **values}))
        if problem is not None:
            raise InvalidRequestError(f"no room for these values: {problem}", key=key)
        try:  # a transaction, for its token: a resend of a start that landed is not refused as "exists"
            transact([Write(self._store, key, set_actions(JobItem, values), job_is_new())])
        except ConditionNotMet as refused:
            attempt: Optional[JobItem] = refused.stored
            if attempt is None or not is_new_attempt(attempt, given.get("job_id")):
                why = ("started" if attempt is None else "ended" if attempt.end_time is not None
                       else f"started by another job ({attempt.job_id!r})")
                raise ImageRequestExistsError(f"image request already {why}", key=key,
                                              item=attempt) from refused.__cause__
            copy_stored(image_request_item, attempt)
            return attempt  # (a new attempt of the running image: nothing changes)
        stored = self._store.instance(key)
        for name, value in values.items():
            setattr(stored, name, value)
        copy_stored(image_request_item, stored)
        return stored

    @table_operation(CompleteRegionException)
    def complete_region_request(self, image_id: str, error: bool) -> JobItem:
        """Count a region in the job (``error=True``: in ``region_error``, else ``region_success``).

        Called in a thread whose last ``start_region_request`` was a region of this image and job (the model
        runner's handlers: ``completion.py``), it counts that region, once, by its latest outcome. Otherwise it
        adds one, atomically, once per call. Returns the job as stored afterwards.
        """
        key = self._store.key(image_id)
        if not isinstance(error, bool):
            raise InvalidRequestError(f"error must be a bool, got {error!r}", key=key)
        tie = tie_for(self._store, key["image_id"])
        counted = self._count_tied(key, tie, ERROR_COUNT if error else SUCCESS_COUNT) if tie is not None else None
        if counted is not None:
            return counted
        counter = JobItem.region_error if error else JobItem.region_success
        try:  # a transaction, for its token: a resend after a lost answer does not count again
            transact([Write(self._store, key, [counter.add(1)], job_exists())])
        except ConditionNotMet as refused:
            raise self._store.unknown(key) from refused.__cause__
        try:
            return self._store.existing(key)
        except Failed as failure:
            raise Failed(f"the region was counted, but the job could not be read back: {failure.message}",
                         key=key) from failure.__cause__

    def _count_tied(self, key: Dict[str, str], tie: Tie, count: str) -> Optional[JobItem]:
        """Count the region of ``tie`` in ``count``, once: one write moving the counter with the job's
        record of the region, decided again from the job a refusal returns. ``None``: the job is not the
        one the tie was made for (counted bare)."""
        region_id, count = tie.region_id, tie.final or count  # (a finished region stays counted as it is)

        def step(seen: Seen[JobItem]) -> Optional[JobItem]:
            was = None
            if seen.known:
                stored = seen.item
                if stored is None:
                    raise self._store.unknown(key) from seen.cause
                if not made_for(tie, stored):
                    return None
                was = job_counted(stored, region_id)
                if was == count:
                    return stored  # counted so already (a resend that landed, the region delivered again)
                if was is not None and int(getattr(stored, counter_name(was)) or 0) < 1:
                    raise Failed(f"the job records region {region_id!r} in {counter_name(was)}, but that counter does "
                                 "not hold it (`pynamodb-tables reconcile` recounts it); not counted", key=key,
                                 item=stored) from seen.cause
            return self._store.update(key, count_actions(region_id, was, count),
                                      job_can_count(region_id, was) & is_made_for(tie))

        counted = settle(step, gave_up="the region not counted", key=key)
        untie(tie)
        return counted

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

    @table_operation(EndImageException)
    def end_image_request(self, image_id: str) -> JobItem:
        """Record ``end_time`` and ``processing_duration``; exactly one caller ever succeeds.

        Later callers get :class:`ImageAlreadyEndedError` with the stored item; the stored
        ``end_time`` never moves.
        """
        key = self._store.key(image_id)

        def step(seen: Seen[JobItem]) -> JobItem:
            if not seen.known:
                seen = seen.read(self._store.existing(key))
            stored = seen.item
            if stored is None:
                raise self._store.unknown(key) from seen.cause
            if stored.end_time is not None:  # ended by another
                raise ImageAlreadyEndedError("image request already ended", key=key, item=stored) from seen.cause
            now = clock.now_ms()
            values: Dict[str, Any] = {"end_time": now}
            if stored.start_time is not None:
                values["processing_duration"] = clock.duration_s(int(stored.start_time), now)
            # Conditioned on the counters read, so the item returned is the item stored.
            transact([Write(self._store, key, set_actions(JobItem, values), job_can_end(stored))])
            return with_values(stored, values)

        return settle(step, gave_up="the job not ended", key=key)

    @table_operation(GetImageRequestItemException)
    def get_image_request(self, image_id: str) -> JobItem:
        """The stored job item (strongly consistent)."""
        return self._store.existing(self._store.key(image_id))

    @table_operation(UpdateImageException)
    def update_image_request(self, image_request_item: JobItem) -> JobItem:
        """Write the item's set attributes and refresh ``processing_duration``.

        The counters (changed only by atomic adds) and ``end_time`` (owned by
        :meth:`end_image_request`) are never written from the item, so a stale copy cannot
        roll them back. Once the job has ended its ``processing_duration`` is kept.
        """
        given = validation.job_values(image_request_item)
        key = self._store.key(given["image_id"])
        stored = self._update(key, given)
        copy_stored(image_request_item, stored)
        return stored

    def _update(self, key: Dict[str, str], given: Dict[str, Any]) -> JobItem:
        """Written without a read where a condition proves the values fit and the job is running, else
        decided again from the item the refusal returns: room checked exactly, the duration kept once
        the job has ended."""
        values = settable(given, exclude=(*self._key_names, *COUNTERS, *COUNTED_IDS, "end_time", "processing_duration"))

        def step(seen: Seen[JobItem]) -> JobItem:
            if not seen.known and given.get("start_time") is None:
                seen = seen.read(self._store.existing(key))
            while True:
                stored = seen.item
                if seen.known and stored is None:
                    raise self._store.unknown(key) from seen.cause
                start_time = given.get("start_time", stored.start_time if stored is not None else None)
                sets = dict(values)
                running = stored is None or stored.end_time is None
                if running and start_time is not None:
                    sets["processing_duration"] = self.get_processing_duration(int(start_time))
                if not sets:
                    return stored if stored is not None else self._store.existing(key)
                condition = job_exists()
                if "processing_duration" in sets:
                    condition &= job_is_running()  # an ended job keeps its duration
                if stored is None:
                    room = has_room_for(JobItem, values_size(JobItem, sets), rewritten=sets)
                    if room is None:  # too much for a proof: checked on the item as stored
                        seen = seen.read(self._store.existing(key))
                        continue
                    condition &= room
                else:
                    problem = room_problem(with_values(stored, sets), before=stored)
                    if problem is not None:
                        raise Failed(f"no room for these values: {problem}", key=key, item=stored) from seen.cause
                    condition &= sizes_as_in(stored, rewritten=sets)
                return self._store.update(key, set_actions(JobItem, sets), condition)

        return settle(step, gave_up="the job not updated", key=key)

    @staticmethod
    def get_processing_duration(start_time_ms: int) -> int:
        """Whole seconds since ``start_time_ms`` (epoch milliseconds)."""
        with located("get_processing_duration"):
            start = validation.integer(start_time_ms, "start_time_ms (epoch milliseconds)")
        return clock.duration_s(start, clock.now_ms())


class ImageRequestTable(JobTable):
    """The job table under the model runner v3's name: the same table, items and guarantees as
    :class:`JobTable`, named by ``table_name`` or the ``IMAGE_REQUEST_TABLE`` environment variable (a fleet
    moving from 2.3.0 to v3 keeps its table)."""

    _env_var = IMAGE_REQUEST_TABLE_ENV


#: The job item under the model runner v3's name (the same class: either table returns it).
ImageRequestItem = JobItem
