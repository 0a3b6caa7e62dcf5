"""How a reading command (``status``, ``list-jobs``) shows what it reads: a view or JSON, once or watched."""

import json
import sys
from argparse import Namespace
from typing import Any, Callable, Optional, TypeVar

from .errors import EXIT_OK, EXIT_USAGE, PROG, CommandError
from .job_list import Progress, no_progress
from .render import Line, View, reading_progress
from .terminal import open_screen
from .watch import DEFAULT_INTERVAL_S, MIN_INTERVAL_S, watch

T = TypeVar("T")


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
