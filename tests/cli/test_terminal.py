"""Colour and live redraws in a terminal (rich), NO_COLOR, and plain lines without rich or a terminal.

In-process runs make rich take captured stdout for a terminal with ``FORCE_COLOR``, the
convention rich follows; the watch tests run the installed script in a real pseudo-terminal, as
an operator's shell would, and read everything it wrote there.
"""

import re
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from tests.support import management as support
from tests.support.management import (
    RUNNER_IMAGE,
    RUNNER_JOB,
    RUNNER_OTHER_JOB,
    Tables,
    finish_job,
    local,
    make_job,
    make_runner_job,
    script_env,
)
from tests.support.terminal import in_terminal, plain_text

tables = support.tables  # fixture

pytestmark = local

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


def no_rich(tmp_path: Path) -> str:
    """A PYTHONPATH on which ``import rich`` fails, as where the [cli] extra is not installed."""
    fake = tmp_path / "rich"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('No module named rich')\n")
    return str(tmp_path)


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
    for fragment in ("job-7", "1/3 done: 1 succeeded, 0 with errors", "1 stale region(s)", "STARTED"):
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
    code, output = in_terminal(["status", "img", "--watch", "--interval", "0.5", *tables.args()], env,
                               when=("r-2", lambda: finish_job(tables)))
    assert code == 0, output
    assert CLEAR_SCREEN not in output  # redrawn in place: no clearing, no flicker
    text = plain_text(output)
    assert "r-2" in text and "STARTED" in text  # a frame while it ran
    assert "ended" in text and "3/3 done: 2 succeeded, 1 with errors" in text  # the last frame
    last = text[text.rindex("image"):]
    assert "finished region(s) not shown" not in last  # ... shows every region, as status does
    assert all(f"r-{n}" in last for n in range(3)) and "PARTIAL" in last and "SUCCESS" in last
    return output


@pytest.mark.full
def test_status_watch_redraws_in_place_with_colour(tables: Tables) -> None:
    output = watch_in_terminal(tables, script_env(TERM="xterm-256color"))
    assert colours(output)
    assert "\x1b[2K" in output and "\x1b[1A" in output  # rich moves up and rewrites the lines it drew


@pytest.mark.full
def test_status_watch_with_no_color(tables: Tables) -> None:
    output = watch_in_terminal(tables, script_env(TERM="xterm-256color", NO_COLOR="1"))
    assert colours(output) == []
    assert "\x1b[2K" in output  # still redrawn in place


@pytest.mark.full
def test_status_watch_without_rich_redraws_plain_text_in_place(tables: Tables, tmp_path: Path) -> None:
    output = watch_in_terminal(tables, script_env(TERM="xterm-256color", PYTHONPATH=no_rich(tmp_path)))
    assert colours(output) == []
    assert output.count("\x1b[H") >= 2 and "\x1b[K" in output and "\x1b[J" in output  # home, rewrite, clear rest


# --- the views at 80 and 120 columns, with the model runner's ids -----------------------------------

STATUS_COLUMNS = ["REGION", "STATUS", "RETRIES", "TILES", "OK", "FAILED", "AGE"]
JOB_COLUMNS = ["IMAGE", "STATE", "DONE", "OK", "ERRORS", "STALE", "DURATION"]


def screen_lines(output: str) -> List[str]:
    """What the terminal shows, line by line (escape sequences and carriage returns taken out)."""
    return [line.rstrip() for line in plain_text(output).replace("\r", "\n").split("\n")]


def row_of(lines: List[str], start: str) -> List[str]:
    """The cells of the one row that starts with ``start`` (cells are two or more spaces apart)."""
    (row,) = [line for line in lines if line.startswith(start)]
    return re.split(r"\s{2,}", row)


@pytest.mark.full
@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("with_rich", [True, False], ids=["rich", "plain"])
def test_status_at_80_and_120_columns_keeps_every_state_column(tables: Tables, tmp_path: Path, columns: int,
                                                                with_rich: bool) -> None:
    region_ids = make_runner_job(tables)
    env = script_env(TERM="xterm-256color", **({} if with_rich else {"PYTHONPATH": no_rich(tmp_path)}))
    code, output = in_terminal(["status", RUNNER_IMAGE, *tables.args()], env, columns=columns)
    assert code == 0, output
    lines = screen_lines(output)
    assert max(len(line) for line in lines) <= columns, "\n".join(lines)
    assert RUNNER_IMAGE in "".join(line[10:] for line in lines)  # the image id whole, wrapped if need be
    header = next(line for line in lines if line.startswith("REGION"))
    assert [cell for cell in re.split(r"\s{2,}", header.strip()) if cell != "LAST UPDATE"] == STATUS_COLUMNS
    expected = {"((0, 0),": ["SUCCESS", "0", "16", "2", "0"], "((0, 2048),": ["PARTIAL", "0", "16", "0", "1"],
                "((2048, 0),": ["IN_PROGRESS", "1", "16", "0", "0"], "((4096, 2048),": ["STARTED", "0", "16", "0", "0"]}
    for start, cells in expected.items():
        row = row_of(lines, start)
        assert row[1:6] == cells, row
        assert row[0] != next(r for r in region_ids if r.startswith(start)) and "…" in row[0]  # shortened
        assert re.fullmatch(r"\d+s|1h 00m", row[-2] if row[-1] == "stale" else row[-1]), row  # AGE
    assert row_of(lines, "((4096, 2048),")[-1] == "stale"
    assert len({line[:24] for line in lines if line.startswith("((")}) == 6  # rows told apart by their ids
    assert ("LAST UPDATE" in header) == (columns == 120)
    assert f"to fit {columns} columns (see --wide)" in "\n".join(lines)


@pytest.mark.full
@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("with_rich", [True, False], ids=["rich", "plain"])
def test_list_jobs_at_80_and_120_columns_keeps_every_state_column(tables: Tables, tmp_path: Path, columns: int,
                                                                   with_rich: bool) -> None:
    make_runner_job(tables)
    env = script_env(TERM="xterm-256color", **({} if with_rich else {"PYTHONPATH": no_rich(tmp_path)}))
    code, output = in_terminal(["list-jobs", *tables.args()], env, columns=columns)
    assert code == 0, output
    lines = screen_lines(output)
    assert max(len(line) for line in lines) <= columns, "\n".join(lines)
    header = re.split(r"\s{2,}", next(line for line in lines if line.startswith("IMAGE")).strip())
    assert [column for column in header if column != "STARTED"] == JOB_COLUMNS  # JOB: the image id starts with it
    assert ("STARTED" in header) == (columns == 120)
    running = row_of(lines, RUNNER_JOB[:8])
    assert running[1:7] == ["running", "3/6", "1", "2", "1", running[6]] and re.fullmatch(r"\d+s", running[-1])
    assert running[0].endswith("scene-0042.tif") and "…" in running[0]
    ended = row_of(lines, RUNNER_OTHER_JOB[:8])
    assert ended[1:6] == ["ended", "1/1", "1", "0", "0"] and ended[0].endswith("scene-0043.tif")


@pytest.mark.full
def test_wide_and_piped_output_keep_the_ids_whole(tables: Tables) -> None:
    region_ids = make_runner_job(tables)
    code, output = in_terminal(["status", RUNNER_IMAGE, "--wide", *tables.args()], script_env(TERM="xterm"),
                               columns=80)
    assert code == 0, output
    text = plain_text(output)
    assert all(region_id in text for region_id in region_ids) and "LAST UPDATE" in text and "see --wide" not in text
    piped = tables.run("list-jobs")
    assert RUNNER_IMAGE in piped.stdout and RUNNER_JOB in piped.stdout and "…" not in piped.stdout
