"""Colour and live redraws in a terminal (rich), NO_COLOR, and plain lines without rich or a terminal.

In-process runs make rich take captured stdout for a terminal with ``FORCE_COLOR``, the
convention rich follows; the watch tests run the installed script in a real pseudo-terminal, as
an operator's shell would, and read everything it wrote there.
"""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pytest

from tests import management_support as support
from tests.management_support import SCRIPT, Tables, finish_job, local, make_job, script_env

tables = support.tables  # fixture

pytestmark = local

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SGR = re.compile(r"\x1b\[([0-9;]*)m")
CLEAR_SCREEN = "\x1b[2J"


def colours(output: str) -> List[str]:
    """The colour parameters of every SGR sequence (foreground or background, any palette)."""
    found = []
    for params in SGR.findall(output):
        for param in filter(None, params.split(";")):
            if 30 <= int(param) <= 38 or 40 <= int(param) <= 48 or 90 <= int(param) <= 107:
                found.append(param)
    return found


def plain_text(output: str) -> str:
    return ESCAPE.sub("", output)


def no_rich(tmp_path: Path) -> str:
    """A PYTHONPATH on which ``import rich`` fails, as where the [cli] extra is not installed."""
    fake = tmp_path / "rich"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('No module named rich')\n")
    return str(tmp_path)


def in_terminal(args: List[str], env: Dict[str, str], when: Optional[Tuple[str, Callable[[], None]]] = None,
                timeout: float = 60) -> Tuple[int, str]:
    """The script in a pseudo-terminal of 40 x 140; ``when``: (text, action) runs the action once the
    text has appeared. Returns the exit code and everything written to the terminal."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    process = subprocess.Popen([str(SCRIPT), *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env,
                               close_fds=True)
    os.close(terminal)
    written = b""
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
                if when is not None and when[0] in plain_text(written.decode(errors="replace")):
                    when[1]()
                    when = None
            elif process.poll() is not None:
                break
        else:
            raise AssertionError(f"still running after {timeout}s: {written.decode(errors='replace')[-2000:]}")
        return process.wait(10), written.decode(errors="replace")
    finally:
        process.kill()
        os.close(controller)


# --- in-process: the rich path and its fallbacks -----------------------------------------------------

def status_output(tables: Tables, capsys: pytest.CaptureFixture[str]) -> str:
    result = tables.cli(capsys, "status", "img")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_status_in_colour_where_rich_sees_a_terminal(tables: Tables, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    make_job(tables)
    plain = status_output(tables, capsys)
    assert "\x1b[" not in plain

    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "140")
    coloured = status_output(tables, capsys)
    assert colours(coloured)
    lines = coloured.splitlines()
    success = next(line for line in lines if "r-0" in line)
    stale = next(line for line in lines if "r-2" in line)
    assert "\x1b[32m" in success  # green: an outcome of SUCCESS
    assert "\x1b[1;31m" in stale and plain_text(stale).rstrip().endswith("stale")  # bold red: stale
    text = plain_text(coloured)
    for fragment in ("img  (job job-7)", "1/3 done: 1 succeeded, 0 with errors", "1 stale region(s)", "STARTED"):
        assert fragment in text


def test_no_color_keeps_rich_but_drops_colour(tables: Tables, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    make_job(tables)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    output = status_output(tables, capsys)
    assert "\x1b[" in output and colours(output) == []  # still drawn by rich (bold headers), without colour
    assert "1 stale region(s)" in plain_text(output)


def test_without_rich_a_terminal_gets_plain_text(tables: Tables, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_job(tables)
    expected = status_output(tables, capsys)
    monkeypatch.setenv("FORCE_COLOR", "1")
    for name in [name for name in sys.modules if name == "rich" or name.startswith("rich.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rich", None)  # import rich fails
    monkeypatch.setitem(sys.modules, "rich.console", None)
    without = status_output(tables, capsys)
    strip_ages = re.compile(r"\d+s( so far)?")
    assert strip_ages.sub("", without) == strip_ages.sub("", expected)
    assert "\x1b[" not in without


def test_list_jobs_in_colour(tables: Tables, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    make_job(tables, "img-a")
    make_job(tables, "img-b")
    finish_job(tables, "img-b")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "160")
    result = tables.cli(capsys, "list-jobs")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    running = next(line for line in lines if "img-a" in line)
    ended = next(line for line in lines if "img-b" in line)
    assert "\x1b[1;31m" in running  # a job with a stale region
    assert "\x1b[32m" in ended and "ended" in plain_text(ended)
    assert "2 job(s) in table" in plain_text(result.stdout)


# --- the watch in a real terminal ---------------------------------------------------------------------

def watch_in_terminal(tables: Tables, env: Dict[str, str]) -> str:
    make_job(tables)
    code, output = in_terminal(["status", "img", "--watch", "--interval", "0.2", *tables.args()], env,
                               when=("r-2", lambda: finish_job(tables)))
    assert code == 0, output
    assert CLEAR_SCREEN not in output  # redrawn in place: no clearing, no flicker
    text = plain_text(output)
    assert "r-2" in text and "STARTED" in text  # a frame while it ran
    assert "ended" in text and "3/3 done: 2 succeeded, 1 with errors" in text  # the last frame
    return output


def test_status_watch_redraws_in_place_with_colour(tables: Tables) -> None:
    output = watch_in_terminal(tables, script_env(TERM="xterm-256color"))
    assert colours(output)
    assert "\x1b[2K" in output and "\x1b[1A" in output  # rich moves up and rewrites the lines it drew


def test_status_watch_with_no_color(tables: Tables) -> None:
    output = watch_in_terminal(tables, script_env(TERM="xterm-256color", NO_COLOR="1"))
    assert colours(output) == []
    assert "\x1b[2K" in output  # still redrawn in place


def test_status_watch_without_rich_redraws_plain_text_in_place(tables: Tables, tmp_path: Path) -> None:
    output = watch_in_terminal(tables, script_env(TERM="xterm-256color", PYTHONPATH=no_rich(tmp_path)))
    assert colours(output) == []
    assert output.count("\x1b[H") >= 2 and "\x1b[K" in output and "\x1b[J" in output  # home, rewrite, clear rest
