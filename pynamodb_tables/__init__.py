"""PynamoDB models and tables that track image jobs, their regions and tiles in DynamoDB."""

from .errors import (
    CompleteRegionException,
    ConfigurationError,
    EndImageException,
    GetImageRequestItemException,
    GetRegionRequestItemException,
    ImageAlreadyEndedError,
    ImageRequestExistsError,
    InvalidRegionRequestException,
    InvalidRequestError,
    InvalidTileError,
    IsImageCompleteException,
    PynamoDBTablesError,
    RegionAlreadyCompleteError,
    RegionFullError,
    StartImageException,
    StartRegionException,
    UpdateImageException,
    UpdateRegionException,
)
from .items import RequestStatus, TileState
from .job_table import ImageRequestItem, ImageRequestTable, JobItem, JobTable
from .listeners import emf_listener
from .observing import OperationEvent, subscribe
from .region_request_table import RegionRequestItem, RegionRequestTable, complete_region, tiles_to_process
from .tile_recorder import TileRecorder

__version__ = "0.1.0"

__all__ = [
    "CompleteRegionException",
    "ConfigurationError",
    "EndImageException",
    "GetImageRequestItemException",
    "GetRegionRequestItemException",
    "ImageAlreadyEndedError",
    "ImageRequestExistsError",
    "ImageRequestItem",
    "ImageRequestTable",
    "InvalidRegionRequestException",
    "InvalidRequestError",
    "InvalidTileError",
    "IsImageCompleteException",
    "JobItem",
    "JobTable",
    "OperationEvent",
    "PynamoDBTablesError",
    "RegionAlreadyCompleteError",
    "RegionFullError",
    "RegionRequestItem",
    "RegionRequestTable",
    "RequestStatus",
    "StartImageException",
    "StartRegionException",
    "TileRecorder",
    "TileState",
    "UpdateImageException",
    "UpdateRegionException",
    "complete_region",
    "emf_listener",
    "subscribe",
    "tiles_to_process",
]
