"""``--watch``: poll until the watched job (or every listed job) has ended, riding out outages.

A poll that fails because DynamoDB did not answer (connection refused or cut, a timeout, a 5xx,
throttling) does not end the watch: the screen says since when DynamoDB has not answered and
when the next poll is, and polls go on with a backoff (the interval doubling, up to
:data:`MAX_BACKOFF_S`) until it answers again. A watch ends only when the job ends, on Ctrl-C
(exit 130), or on a failure that waiting cannot mend (an unknown image, a missing table, access
denied): exit 1, one line.
"""

import time
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

from .. import clock
from .errors import describe_error, is_transient
from .render import format_ms

T = TypeVar("T")

#: The shortest ``--interval``: each poll costs read units.
MIN_INTERVAL_S = 0.5
DEFAULT_INTERVAL_S = 2.0
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class Outage:
    """DynamoDB not answering the watch: since when, how many polls failed, the last error, the next poll."""

    since_ms: int
    failed_polls: int
    error: str
    next_poll_s: float

    def notice(self) -> str:
        return (f"DynamoDB not answering since {format_ms(self.since_ms)} ({self.failed_polls} failed "
                f"poll{'s' if self.failed_polls > 1 else ''}): {self.error}; polling again in "
                f"{self.next_poll_s:g}s (Ctrl-C to stop)")


def poll_delay(interval: float, failed_polls: int) -> float:
    """The wait before the next poll after ``failed_polls`` failures in a row."""
    return float(min(max(interval, MAX_BACKOFF_S), interval * 2.0 ** failed_polls))


def watch(read: Callable[[], T], finished: Callable[[T], bool], interval: float, show: Callable[[T], None],
          tell: Callable[[Outage], None], sleep: Callable[[float], None] = time.sleep) -> None:
    """Poll ``read`` every ``interval`` seconds, ``show`` each answer, until ``finished`` says so;
    a poll DynamoDB did not answer is told to ``tell`` and polled again later."""
    since: Optional[int] = None
    failed = 0
    while True:
        try:
            data = read()
        except Exception as exc:
            if not is_transient(exc):
                raise
            failed += 1
            since = since or clock.now_ms()
            outage = Outage(since, failed, describe_error(exc), poll_delay(interval, failed))
            tell(outage)
            sleep(outage.next_poll_s)
            continue
        since, failed = None, 0
        show(data)
        if finished(data):
            return
        sleep(interval)
