"""The job table: one item per image, counting the outcomes of its regions."""

from typing import Any, Dict, Optional

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from . import clock, validation
from .attributes import ExpireTimeAttribute
from .base_table import BoundTable, ConditionNotMet
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
from .items import SeedItem, attributes_from, copy_stored, set_actions, settable

JOB_TABLE_ENV = "JOB_TABLE"


class JobItem(SeedItem):
    """An image job. Times are epoch ms, ``expire_time`` epoch s, ``processing_duration`` s."""

    seed_order = ("image_id", "job_id", "image_url", "image_read_role", "model_invoke_mode", "start_time",
                  "expire_time", "end_time", "region_success", "region_error", "region_count", "width", "height",
                  "extents", "tile_size", "tile_overlap", "model_name", "outputs", "processing_duration",
                  "feature_properties", "feature_distillation_option", "roi_wkt")

    image_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(null=True)
    image_url = UnicodeAttribute(null=True)
    image_read_role = UnicodeAttribute(null=True)
    model_invoke_mode = UnicodeAttribute(null=True)
    start_time = NumberAttribute(null=True)
    expire_time = ExpireTimeAttribute(null=True)
    end_time = NumberAttribute(null=True)
    region_success = NumberAttribute(null=True)
    region_error = NumberAttribute(null=True)
    region_count = NumberAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    extents = UnicodeAttribute(null=True)
    tile_size = UnicodeAttribute(null=True)
    tile_overlap = UnicodeAttribute(null=True)
    model_name = UnicodeAttribute(null=True)
    outputs = UnicodeAttribute(null=True)
    processing_duration = NumberAttribute(null=True)
    feature_properties = UnicodeAttribute(null=True)
    feature_distillation_option = UnicodeAttribute(null=True)
    roi_wkt = UnicodeAttribute(null=True)

    @classmethod
    def from_image_request(cls, image_request: Any) -> "JobItem":
        """A job item from any object carrying the seed's attributes.

        Text attributes given other values are stored as text (enums by value, lists and
        dicts as JSON). An object with a ``roi`` geometry (``.wkt``) and no ``roi_wkt``
        gives ``roi_wkt``.
        """
        values = attributes_from(cls, image_request)
        roi = getattr(image_request, "roi", None)
        if "roi_wkt" not in values and roi is not None:
            values["roi_wkt"] = getattr(roi, "wkt", None) or str(roi)
        return cls(**values)


COUNTERS = ("region_success", "region_error")


class JobTable(BoundTable[JobItem]):
    """The job table, named by ``table_name`` or the ``JOB_TABLE`` environment variable."""

    env_var = JOB_TABLE_ENV
    key_names = ("image_id",)
    missing = "unknown image: no job item"

    def __init__(self, table_name: Optional[str] = None, *, host: Optional[str] = None, region: Optional[str] = None):
        super().__init__(JobItem, table_name, host=host, region=region)

    @table_operation
    def start_image_request(self, image_request_item: JobItem) -> JobItem:
        """Create the job with its start time, expiry and zeroed counters.

        Raises :class:`ImageRequestExistsError` (with the stored ``.item``) if the image
        was already started; nothing changes then.
        """
        operation = "start_image_request"
        given = job_values(image_request_item)
        key = self.key(given["image_id"])
        now = clock.now_ms()
        values = settable(given, exclude=(*self.key_names, "end_time"))
        values.update(
            start_time=now,
            expire_time=clock.expire_time(now),
            processing_duration=0,
            region_success=0,
            region_error=0,
        )
        try:
            stored = self.transition(key, set_actions(JobItem, values), JobItem.image_id.does_not_exist(),
                                     operation=operation, error=StartImageException)
        except ConditionNotMet as refused:
            existing = self.read(key, operation=operation, error=StartImageException)
            raise self.error(ImageRequestExistsError, operation, key, "image request already started",
                             item=existing) from refused.__cause__
        copy_stored(image_request_item, stored)
        return stored

    @table_operation
    def complete_region_request(self, image_id: str, error: bool) -> JobItem:
        """Add one to ``region_error`` (``error=True``) or ``region_success``, atomically."""
        operation = "complete_region_request"
        key = self.key(validation.require_key(image_id, "image_id"))
        if not isinstance(error, bool):
            raise InvalidRequestError(f"error must be a bool, got {error!r}", operation=operation, key=key)
        counter = JobItem.region_error if error else JobItem.region_success
        try:
            return self.write(key, [counter.add(1)], JobItem.image_id.exists(), operation=operation,
                              error=CompleteRegionException)
        except ConditionNotMet as refused:
            raise self.error(CompleteRegionException, operation, key, self.missing) from refused.__cause__

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
        key = self.key(validation.require_key(image_id, "image_id"))
        stored = self.existing(key, operation, EndImageException)
        cause: Optional[BaseException] = None
        if stored.end_time is None:
            now = clock.now_ms()
            actions = [JobItem.end_time.set(now)]
            if stored.start_time is not None:
                actions.append(JobItem.processing_duration.set(clock.duration_s(int(stored.start_time), now)))
            try:
                return self.transition(key, actions, JobItem.image_id.exists() & JobItem.end_time.does_not_exist(),
                                       operation=operation, error=EndImageException)
            except ConditionNotMet as refused:
                cause = refused.__cause__
            stored = self.existing(key, operation, EndImageException, cause)
        raise self.error(ImageAlreadyEndedError, operation, key, "image request already ended",
                         item=stored) from cause

    @table_operation
    def get_image_request(self, image_id: str) -> JobItem:
        """The stored job item (strongly consistent)."""
        key = self.key(validation.require_key(image_id, "image_id"))
        return self.existing(key, "get_image_request", GetImageRequestItemException)

    @table_operation
    def update_image_request(self, image_request_item: JobItem) -> JobItem:
        """Write the item's set attributes and refresh ``processing_duration``.

        The counters (changed only by atomic adds) and ``end_time`` (owned by
        :meth:`end_image_request`) are never written from the item, so a stale copy cannot
        roll them back. Once the job has ended its ``processing_duration`` is kept.
        """
        operation = "update_image_request"
        given = job_values(image_request_item)
        key = self.key(given["image_id"])
        stored = self._update(key, given, operation)
        copy_stored(image_request_item, stored)
        return stored

    def _update(self, key: Dict[str, str], given: Dict[str, Any], operation: str) -> JobItem:
        values = settable(given, exclude=(*self.key_names, *COUNTERS, "end_time", "processing_duration"))
        start_time = given.get("start_time")
        if start_time is None:
            start_time = self.existing(key, operation, UpdateImageException).start_time
        if start_time is not None:
            refreshed = dict(values, processing_duration=self.get_processing_duration(int(start_time)))
            try:
                return self.write(key, set_actions(JobItem, refreshed),
                                  JobItem.image_id.exists() & JobItem.end_time.does_not_exist(),
                                  operation=operation, error=UpdateImageException)
            except ConditionNotMet:
                pass  # ended (keep its duration) or gone: decided below
        if not values:
            return self.existing(key, operation, UpdateImageException)
        try:
            return self.write(key, set_actions(JobItem, values), JobItem.image_id.exists(),
                              operation=operation, error=UpdateImageException)
        except ConditionNotMet as refused:
            raise self.error(UpdateImageException, operation, key, self.missing) from refused.__cause__

    @staticmethod
    def get_processing_duration(start_time_ms: int) -> int:
        """Whole seconds since ``start_time_ms`` (epoch milliseconds)."""
        with located("get_processing_duration"):
            start = validation.integer(start_time_ms, "start_time_ms (epoch milliseconds)")
        return clock.duration_s(start, clock.now_ms())


def job_values(item: Any) -> Dict[str, Any]:
    """The set attributes of a job item, normalised; its ``image_id`` must be a usable key."""
    values = validation.item_values(item, JobItem)
    values["image_id"] = validation.require_key(item.image_id, "image_id")
    return values
