"""The management script in a real pseudo-terminal, as an operator's shell runs it, and its output
without escape sequences."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tests.support.management import SCRIPT

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain_text(output: str) -> str:
    return ESCAPE.sub("", output)


def in_terminal(args: List[str], env: Dict[str, str], when: Optional[Tuple[str, Callable[[], None]]] = None,
                timeout: float = 60, columns: int = 140,
                then: Sequence[Tuple[str, Callable[[], None]]] = ()) -> Tuple[int, str]:
    """The script in a pseudo-terminal of 40 lines x ``columns``; ``when``: (text, action) runs the action
    once the text has appeared (``then``: more of them, each after the one before). Returns the exit code
    and everything written to the terminal."""
    steps = ([when] if when is not None else []) + list(then)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen([str(SCRIPT), *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env,
                               close_fds=True)
    os.close(terminal)
    written = b""
    seen = 0  # what the last step had already seen: the next step's text must appear after it
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the terminal closed: the script has exited
                    break
                if not chunk:
                    break
                written += chunk
                text = plain_text(written.decode(errors="replace"))
                if steps and steps[0][0] in text[seen:]:
                    seen = len(text)
                    steps.pop(0)[1]()
            elif process.poll() is not None:
                break
        else:
            raise AssertionError(f"still running after {timeout}s: {written.decode(errors='replace')[-2000:]}")
        return process.wait(10), written.decode(errors="replace")
    finally:
        process.kill()
        os.close(controller)
