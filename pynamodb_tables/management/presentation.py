"""How a reading command (``status``, ``list-jobs``) shows what it reads: a view or JSON, once or
watched (``--watch``: poll until the watched job, or every listed job, has ended, riding out outages).

A poll that fails because DynamoDB did not answer (connection refused or cut, a timeout, a 5xx,
throttling) does not end the watch: the screen says since when DynamoDB has not answered and
when the next poll is, and polls go on with a backoff (the interval doubling, up to
:data:`MAX_BACKOFF_S`) until it answers again. A watch ends only when the job ends, on Ctrl-C
(exit 130), or on a failure that waiting cannot mend (an unknown image, a missing table, access
denied): exit 1, one line.
"""

import json
import sys
import time
from argparse import Namespace
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

from .. import clock
from .errors import EXIT_OK, EXIT_USAGE, PROG, CommandError, describe_error, is_transient
from .jobs import Progress, no_progress
from .terminal import open_screen
from .views import Line, View, format_ms, reading_progress

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


def poll_interval(args: Namespace) -> float:
    """``--interval``, which only ``--watch`` takes, at least :data:`MIN_INTERVAL_S`."""
    if args.interval is None:
        return DEFAULT_INTERVAL_S
    if not args.watch:
        raise CommandError("--interval needs --watch", EXIT_USAGE)
    if args.interval < MIN_INTERVAL_S:
        raise CommandError(f"--interval must be at least {MIN_INTERVAL_S:g} seconds (each poll costs read units), "
                           f"got {args.interval:g}", EXIT_USAGE)
    return float(args.interval)


def present(args: Namespace, read: Callable[[Progress], T], view: Callable[[T, Optional[int]], View],
            as_json: Callable[[T], Any], finished: Callable[[T], bool]) -> int:
    """Show what ``read`` returns: JSON or a view (fitted to the terminal), once or (``--watch``) until
    ``finished``, riding out outages (:mod:`.watch`)."""
    interval = poll_interval(args)
    screen = open_screen(wide=args.wide)
    if not args.watch:
        if args.json:
            print(json.dumps(as_json(read(no_progress)), sort_keys=True, indent=2))
            return EXIT_OK
        with screen.progress() as tell:
            data = read(lambda *step: tell(reading_progress(*step)))
        screen.show(view(data, screen.width))
        return EXIT_OK
    if args.json:  # one line per poll on stdout; outages on stderr
        watch(lambda: read(no_progress), finished, interval,
              lambda data: print(json.dumps(as_json(data), sort_keys=True), flush=True),
              lambda outage: print(f"{PROG}: {outage.notice()}", file=sys.stderr, flush=True))
        return EXIT_OK
    with screen.live() as draw:
        last: View = []

        def show(data: T) -> None:
            last[:] = view(data, screen.width)
            draw(last)

        watch(lambda: read(no_progress), finished, interval, show,
              lambda outage: draw([*last, Line(outage.notice(), "error")]))
    return EXIT_OK
