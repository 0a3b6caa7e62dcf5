"""When a region without an outcome counts as stale: nobody has written it for a while.

A region's last activity is the later of its ``last_updated_time`` and its ``start_time``: this
package sets both on every start, but the model runner's own ``start_region_request`` sets only
``start_time`` (and its ``add_tile`` neither), so a region it started and then abandoned has no
``last_updated_time``, or one left from an earlier attempt. ``status``, ``list-jobs`` and
``fail-stale`` use this one definition.
"""

from typing import Optional

from ..region_states import is_outcome


def last_activity(start_ms: Optional[float], updated_ms: Optional[float]) -> Optional[int]:
    """The region's last known write (epoch milliseconds), or ``None`` when neither time is set."""
    times = [int(t) for t in (start_ms, updated_ms) if t is not None]
    return max(times) if times else None


def is_stale(status: Optional[str], start_ms: Optional[float], updated_ms: Optional[float], now_ms: int,
             stale_after_s: float) -> bool:
    """A region without an outcome whose last activity is at least ``stale_after_s`` seconds old."""
    last = last_activity(start_ms, updated_ms)
    return not is_outcome(status) and last is not None and max(0, now_ms - last) >= stale_after_s * 1000
