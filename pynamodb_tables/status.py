"""Status values shared by both tables."""

from enum import Enum


class RequestStatus(str, Enum):
    """Status of an image or region request; the value is the name."""

    STARTED = "STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    PARTIAL = "PARTIAL"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """True for the outcomes a request ends in: ``SUCCESS``, ``PARTIAL`` and ``FAILED``."""
        return self in TERMINAL_STATUSES

    def __str__(self) -> str:
        return self.value


TERMINAL_STATUSES = frozenset({RequestStatus.SUCCESS, RequestStatus.PARTIAL, RequestStatus.FAILED})
NON_TERMINAL_STATUSES = frozenset(set(RequestStatus) - TERMINAL_STATUSES)
#: The same, as the text stored in ``region_status``.
TERMINAL_VALUES = frozenset(status.value for status in TERMINAL_STATUSES)
NON_TERMINAL_VALUES = frozenset(status.value for status in NON_TERMINAL_STATUSES)


class TileState(str, Enum):
    """Outcome of one tile; selects ``succeeded_tiles`` or ``failed_tiles``."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value
