"""Every error the package raises, under one base class.

Each error names the operation, the table and the key it was about, carries the stored
item where the outcome has one (``.item``), and chains the DynamoDB error that caused it
(``raise ... from``); ``.code`` is DynamoDB's error code when a request failed. Bad input is
also a ``ValueError``; it is raised before any write.
"""

from typing import Any, Mapping, Optional


class PynamoDBTablesError(Exception):
    """Base class of every error raised by ``pynamodb_tables``."""

    def __init__(
        self,
        message: str,
        *,
        operation: Optional[str] = None,
        table: Optional[str] = None,
        key: Optional[Mapping[str, Any]] = None,
        item: Any = None,
    ) -> None:
        self.message = message
        self.operation = operation
        self.table = table
        self.key = dict(key) if key is not None else None
        self.item = item
        #: DynamoDB's error code (or the transport error's name) when a request failed.
        self.code: Optional[str] = None
        super().__init__(self._located_message())

    def locate(self, operation: str, table: Optional[str], key: Optional[Mapping[str, Any]] = None) -> None:
        """Fill in the operation, table and key where the raiser did not know them."""
        self.operation = self.operation or operation
        self.table = self.table or table
        if self.key is None and key is not None:
            self.key = dict(key)
        self.args = (self._located_message(),)

    def _located_message(self) -> str:
        where = []
        if self.operation:
            where.append(self.operation)
        if self.table:
            where.append(f"on table {self.table!r}")
        if self.key:
            where.append("for " + ", ".join(f"{k}={v!r}" for k, v in self.key.items()))
        return f"{' '.join(where)}: {self.message}" if where else self.message


class ConfigurationError(PynamoDBTablesError, ValueError):
    """The environment or constructor arguments do not describe a usable table."""


class InvalidRequestError(PynamoDBTablesError, ValueError):
    """An argument is malformed (wrong type, empty key, bad tile, unknown status); nothing was written."""


# --- job table -----------------------------------------------------------------------------

class StartImageException(PynamoDBTablesError):
    """``start_image_request`` failed."""


class ImageRequestExistsError(StartImageException):
    """The image was already started; nothing changed. ``.item`` is the stored job."""


class CompleteRegionException(PynamoDBTablesError):
    """Recording a region's completion failed."""


class EndImageException(PynamoDBTablesError):
    """``end_image_request`` failed."""


class ImageAlreadyEndedError(EndImageException):
    """Another caller already ended the image; ``end_time`` did not move. ``.item`` is the stored job."""


class GetImageRequestItemException(PynamoDBTablesError):
    """``get_image_request`` failed, or the image is unknown."""


class IsImageCompleteException(PynamoDBTablesError):
    """``region_success``, ``region_error`` or ``region_count`` is unset."""


class UpdateImageException(PynamoDBTablesError):
    """``update_image_request`` failed, or the image is unknown."""


# --- region request table --------------------------------------------------------------------

class StartRegionException(PynamoDBTablesError):
    """``start_region_request`` failed."""


class RegionAlreadyCompleteError(StartRegionException, CompleteRegionException):
    """The region already reached its outcome; nothing changed. ``.item`` is the stored region."""


class UpdateRegionException(PynamoDBTablesError):
    """Updating a region (attributes or tiles) failed, or the region is unknown."""


class RegionFullError(UpdateRegionException):
    """The region item cannot hold more tiles (DynamoDB's 400 KB item limit); nothing was written.

    ``.item`` is the stored region when it was read. The caller still holds the tiles.
    """


class InvalidTileError(UpdateRegionException, InvalidRequestError):
    """A tile is not ``[[x, y], [w, h]]`` with ints, ``x, y >= 0`` and ``w, h > 0``."""


class GetRegionRequestItemException(PynamoDBTablesError):
    """``get_region_request`` or ``list_regions`` failed."""


class InvalidRegionRequestException(InvalidRequestError):
    """A region request item is malformed (keys, bounds, tile size or overlap, status)."""
