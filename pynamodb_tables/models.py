"""The two item models: exactly the seed documents' attributes, names and types, in their order.

Times (``start_time``, ``end_time``, ``last_updated_time``) are epoch milliseconds,
``expire_time`` is the table's TTL (epoch seconds, read as a UTC ``datetime``), and
``processing_duration`` is whole seconds. Tiles and boxes are ``[[x, y], [w, h]]`` of ints.
"""

from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute

from .attributes import BoxAttribute, ExpireTimeAttribute, IntPairAttribute, TileListAttribute
from .items import SeedItem, attributes_from


class JobItem(SeedItem):
    """An image job: one item per image in the job table, keyed by ``image_id``."""

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
    #: The regions counted in ``region_success`` / ``region_error``, each by a short digest of its id
    #: (``region_states.counted_entry``): the job's record of what it counted, so that every way of
    #: counting a region (``complete_region``, the model runner's two calls, the repairs) counts it once,
    #: by its latest outcome. Not the seed's; written only with the counters, never from an item.
    region_success_ids = UnicodeSetAttribute(null=True)
    region_error_ids = UnicodeSetAttribute(null=True)

    @classmethod
    def from_image_request(cls, image_request: Any) -> "JobItem":
        """A job item from any object carrying the seed's attributes.

        Text attributes given other values are stored as text, as the seed's item did (enums by
        value, lists and dicts as JSON, tuples with ``str``). An object with a ``roi`` geometry
        (``.wkt``) and no ``roi_wkt`` gives ``roi_wkt``.
        """
        values = attributes_from(cls, image_request)
        roi = getattr(image_request, "roi", None)
        if "roi_wkt" not in values and roi is not None:
            values["roi_wkt"] = getattr(roi, "wkt", None) or str(roi)
        return cls(**values)


class RegionRequestItem(SeedItem):
    """A region of an image job: one item per region, keyed by ``image_id`` and ``region_id``."""

    seed_order = ("region_id", "image_id", "job_id", "start_time", "last_updated_time", "end_time", "expire_time",
                  "image_read_role", "processing_duration", "message", "region_status", "total_tiles",
                  "failed_tiles", "failed_tile_count", "succeeded_tiles", "succeeded_tile_count", "region_bounds",
                  "region_retry_count", "tile_compression", "tile_format", "tile_overlap", "tile_size")

    region_id = UnicodeAttribute(range_key=True)
    image_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(null=True)
    start_time = NumberAttribute(null=True)
    last_updated_time = NumberAttribute(null=True)
    end_time = NumberAttribute(null=True)
    expire_time = ExpireTimeAttribute(null=True)
    image_read_role = UnicodeAttribute(null=True)
    processing_duration = NumberAttribute(null=True)
    message = UnicodeAttribute(null=True)
    region_status = UnicodeAttribute(null=True)
    total_tiles = NumberAttribute(null=True)
    failed_tiles = TileListAttribute(null=True)
    failed_tile_count = NumberAttribute(null=True)
    succeeded_tiles = TileListAttribute(null=True)
    succeeded_tile_count = NumberAttribute(null=True)
    region_bounds = BoxAttribute(null=True)
    region_retry_count = NumberAttribute(null=True)
    tile_compression = UnicodeAttribute(null=True)
    tile_format = UnicodeAttribute(null=True)
    tile_overlap = IntPairAttribute(null=True)
    tile_size = IntPairAttribute(null=True)

    @classmethod
    def from_region_request(cls, region_request: Any) -> "RegionRequestItem":
        """A region item from any object carrying the seed's attributes (tuples become lists)."""
        return cls(**attributes_from(cls, region_request))
