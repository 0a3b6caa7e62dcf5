"""Values in the forms the seed's callers use: their enums, numpy-style integers, DynamoDB's Decimals.

The model runner's ``RequestStatus`` is a ``str`` enum whose values are generated from the
names, and its ``TileState`` a ``str`` enum with lower-case values; both are re-declared here
(not imported) so that the tests need no other package. ``Int64`` stands for a numpy integer:
a ``numbers.Integral`` that is not an ``int``.
"""

import numbers
from enum import Enum, auto
from typing import Any, Dict, List


class _AutoName(Enum):
    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: List[Any]) -> str:
        return name


class ForeignRequestStatus(str, _AutoName):
    STARTED = auto()
    IN_PROGRESS = auto()
    PARTIAL = auto()
    SUCCESS = auto()
    FAILED = auto()


class ForeignTileState(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Int64:
    """A minimal integer type that is not an ``int`` (as numpy's ``int64`` is not)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __int__(self) -> int:
        return self.value

    __index__ = __int__

    def __repr__(self) -> str:
        return f"Int64({self.value})"


numbers.Integral.register(Int64)

#: The model runner's item classes' attributes in the order its API documents list them (its job
#: table and region request table pages, as of osml-model-runner 2.3.0): what positional
#: arguments mean. Kept here as data, so that the tests need nothing outside the repository.
MODEL_RUNNER_ATTRIBUTE_ORDER: Dict[str, List[str]] = {
    "JobItem": ["image_id", "job_id", "image_url", "image_read_role", "model_invoke_mode", "start_time",
                "expire_time", "end_time", "region_success", "region_error", "region_count", "width", "height",
                "extents", "tile_size", "tile_overlap", "model_name", "outputs", "processing_duration",
                "feature_properties", "feature_distillation_option", "roi_wkt"],
    "RegionRequestItem": ["region_id", "image_id", "job_id", "start_time", "last_updated_time", "end_time",
                          "expire_time", "image_read_role", "processing_duration", "message", "region_status",
                          "total_tiles", "failed_tiles", "failed_tile_count", "succeeded_tiles",
                          "succeeded_tile_count", "region_bounds", "region_retry_count", "tile_compression",
                          "tile_format", "tile_overlap", "tile_size"],
}
