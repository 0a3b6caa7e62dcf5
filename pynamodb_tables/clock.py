"""The one place that reads the clock, so tests can pin every time field.

Times (``start_time``, ``end_time``, ``last_updated_time``) are epoch milliseconds,
``expire_time`` is epoch seconds and ``processing_duration`` is whole seconds.
"""

import math
import os
import time
from datetime import datetime, timezone

from .errors import ConfigurationError

TTL_DAYS_ENV = "DDB_TTL_IN_DAYS"
DEFAULT_TTL_DAYS = 1.0
SECONDS_PER_DAY = 86_400
#: Longest time to live accepted: a hundred years (much more cannot be stored as a datetime).
MAX_TTL_DAYS = 36_500


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def ttl_days() -> float:
    """Days an item lives after its start, from ``DDB_TTL_IN_DAYS`` (default 1)."""
    raw = os.environ.get(TTL_DAYS_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_TTL_DAYS
    try:
        days = float(raw)
    except ValueError:
        raise ConfigurationError(f"{TTL_DAYS_ENV} must be a number of days, got {raw!r}") from None
    if not math.isfinite(days) or days <= 0 or days > MAX_TTL_DAYS:
        raise ConfigurationError(f"{TTL_DAYS_ENV} must be a number of days above 0 and at most {MAX_TTL_DAYS}, "
                                 f"got {raw!r}")
    return days


def expire_time(start_ms: int) -> datetime:
    """When an item started at ``start_ms`` expires: start + ``DDB_TTL_IN_DAYS``, whole epoch seconds."""
    seconds = start_ms // 1000 + int(ttl_days() * SECONDS_PER_DAY)
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def duration_s(start_ms: int, end_ms: int) -> int:
    """Whole seconds from ``start_ms`` to ``end_ms`` (never negative)."""
    return max(0, (end_ms - start_ms) // 1000)
