"""Where views are shown: colour and in-place redraws in a terminal, fitted to its width; plain lines
anywhere else.

With rich installed (``pip install 'pynamodb_tables[cli]'``) and stdout a terminal (or
``FORCE_COLOR`` / ``TTY_COMPATIBLE=1`` set), views are drawn with colour; rich leaves colour
out when ``NO_COLOR`` is set. Live views (``--watch``) are redrawn in place, without clearing
the screen. Without rich, a terminal gets plain text redrawn in place the same way; stdout that
is not a terminal (a pipe, a file, a log) gets plain lines only: no colour, no cursor movement,
no progress.

In a terminal, views are fitted to its width (:func:`fit`) unless ``--wide`` asks for them whole:
ids shortened, never a state column dropped. Label-value pairs keep their values whole, folded
over more lines where they are too long. Each table (:class:`~.views.Grid`) keeps every column
except, in this order:

- its ``redundant`` columns, left out as soon as an id would otherwise be shortened (what they
  tell is also in another column: the job id at the start of a model runner's image id);
- its ``optional`` columns, right to left, left out while an id column would get fewer than
  :data:`MIN_ID_WIDTH` characters (a time that another column tells as an age or duration).

Then the id columns share what is left. An id that does not fit loses, first, the end that
every id of its column shares, from a separator on (``((0, 0), (2048, 2048))-…`` for regions
whose ids end with their job id) and then its end; or, when they share no end, its middle
(``5e0c7d2a-…/scene-0042.tif``). A line under the table says what was shortened or left out,
and that ``--wide`` shows it all (as ``--json`` does). Output that is not a terminal is never
fitted.
"""

import contextlib
import shutil
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator, List, Optional, Protocol, Sequence, TextIO, Tuple

from .views import Block, Grid, Line, Pairs, View, plain_text

ELLIPSIS = "…"
GAP = 2  # spaces between columns, as render.plain and the terminal draw them
MIN_ID_WIDTH = 24
SEPARATORS = "-:/_"


def fit(view: View, width: int) -> View:
    """``view`` with each table fitted to ``width`` columns, and values too long for it folded."""
    fitted: View = []
    for block in view:
        if isinstance(block, Grid):
            fitted.extend(fit_grid(block, width))
        else:
            fitted.append(fold_pairs(block, width) if isinstance(block, Pairs) else block)
    return fitted


def fold_pairs(block: Pairs, width: int) -> Pairs:
    """Label-value pairs whose values longer than the room beside the labels go on over more lines."""
    room = max(10, width - len(block.indent) - max(len(row[0]) for row in block.rows) - GAP)
    rows: List[Tuple[str, ...]] = []
    for label, value, *style in block.rows:
        pieces = [value[start:start + room] for start in range(0, len(value), room)] or [""]
        rows += [(label if n == 0 else "", piece, *style) for n, piece in enumerate(pieces)]
    return replace(block, rows=rows)


def column_widths(grid: Grid) -> List[int]:
    return [max([len(grid.headers[i])] + [len(row[i]) for row in grid.rows]) for i in range(len(grid.headers))]


def id_room(grid: Grid, widths: Sequence[int], kept: Sequence[int], width: int) -> int:
    """The characters each id column gets (evenly) when ``kept`` columns are shown in ``width``."""
    ids = [i for i in kept if i in grid.ids]
    others = sum(widths[i] for i in kept if i not in grid.ids) + GAP * (len(kept) - 1)
    return (width - others) // max(1, len(ids))


def fits(grid: Grid, widths: Sequence[int], kept: Sequence[int], width: int) -> bool:
    return sum(widths[i] for i in kept) + GAP * (len(kept) - 1) <= width


def shared_end(texts: Sequence[str]) -> int:
    """How many characters at the end every text shares, from a separator on (0: none worth cutting)."""
    if len(texts) < 2:
        return 0
    first = texts[0]
    common = 0
    while common < len(first) and all(len(t) > common and t[-1 - common] == first[-1 - common] for t in texts):
        common += 1
    shared = first[len(first) - common:]
    cut = next((i for i, char in enumerate(shared) if char in SEPARATORS), None)
    if cut is None or common - cut - 1 < 8 or any(len(t) <= common for t in texts):
        return 0
    return common - cut - 1  # the separator stays, followed by the ellipsis


def middle(text: str, width: int) -> str:
    """``text`` in ``width`` characters: its start and its end, an ellipsis between."""
    if len(text) <= width:
        return text
    if width < 2:
        return ELLIPSIS[:width]
    head = width // 2
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + (text[len(text) - tail:] if tail else "")


def shorten(texts: Sequence[str], width: int) -> List[str]:
    """Each of a column's ids in ``width`` characters: the end they share cut first, then (what tells
    them apart being at their start) their end, else their middle."""
    cut = shared_end(texts)
    if not cut:
        return [middle(t, width) for t in texts]
    return [t[:len(t) - cut] + ELLIPSIS if len(t) - cut < width else t[:width - 1] + ELLIPSIS for t in texts]


def allot(natural: Sequence[int], room: int) -> List[int]:
    """``room`` characters shared among columns wanting ``natural``: none gets more than it wants."""
    given = [0] * len(natural)
    left, waiting = room, sorted(range(len(natural)), key=lambda i: natural[i])
    while waiting:
        share = left // len(waiting)
        index = waiting.pop(0)
        given[index] = max(1, min(natural[index], share))
        left -= given[index]
    return given


def fit_grid(grid: Grid, width: int) -> List[Block]:
    """The table in ``width`` columns, and a line saying what was shortened or left out (if anything)."""
    widths = column_widths(grid)
    kept = list(range(len(grid.headers)))
    if fits(grid, widths, kept, width):
        return [grid]
    left_out: List[int] = []
    for column in sorted(grid.redundant):
        kept.remove(column)
        left_out.append(column)
    for column in sorted(grid.optional, reverse=True):
        if id_room(grid, widths, kept, width) >= MIN_ID_WIDTH or fits(grid, widths, kept, width):
            break
        kept.remove(column)
        left_out.append(column)
    ids = [i for i in kept if i in grid.ids]
    others = sum(widths[i] for i in kept if i not in grid.ids) + GAP * (len(kept) - 1)
    given = dict(zip(ids, allot([widths[i] for i in ids], max(len(ids), width - others))))
    columns = {i: [row[i] for row in grid.rows] for i in kept}
    shortened = [i for i in ids if widths[i] > given[i]]
    for i in shortened:
        columns[i] = shorten(columns[i], given[i])
    rows = [[columns[i][r] for i in kept] for r in range(len(grid.rows))]
    fitted = replace(grid, headers=[grid.headers[i] for i in kept], rows=rows,
                     right=frozenset(kept.index(i) for i in grid.right if i in kept),
                     ids=frozenset(kept.index(i) for i in ids), redundant=frozenset(), optional=frozenset())
    return [fitted, *note(grid, shortened, left_out, width)]


def note(grid: Grid, shortened: Sequence[int], left_out: Sequence[int], width: int) -> List[Block]:
    said: List[str] = []
    if shortened:
        said.append(f"{', '.join(grid.headers[i] for i in shortened)} shortened")
    hidden = [grid.headers[i] for i in left_out if i in grid.optional]
    if hidden:
        said.append(f"{', '.join(hidden)} left out")
    if not said:
        return []
    return [Line(f"{', '.join(said)} to fit {width} columns (see --wide)", "muted")]


if TYPE_CHECKING:
    from rich.console import Console, RenderableType

#: rich's styles for the view's style names.
STYLES = {"title": "bold", "ok": "green", "warn": "yellow", "error": "red", "stale": "bold red", "muted": "dim"}
HOME, CLEAR_LINE, CLEAR_BELOW = "\033[H", "\033[K", "\033[J"

Draw = Callable[[View], None]
Tell = Callable[[str], None]


class PlainScreen:
    """Plain text; in a terminal (rich not installed), live views are redrawn from the top left."""

    def __init__(self, stream: TextIO, terminal: bool, wide: bool = False) -> None:
        self.stream = stream
        self.terminal = terminal
        self.wide = wide

    @property
    def width(self) -> Optional[int]:
        """The terminal's width now (it may change during a watch); ``None``: not fitted."""
        return shutil.get_terminal_size().columns if self.terminal and not self.wide else None

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def fitted(self, view: View) -> str:
        return plain_text(view if self.width is None else fit(view, self.width))

    def show(self, view: View) -> None:
        self.write(self.fitted(view) + "\n")

    @contextlib.contextmanager
    def live(self) -> Iterator[Draw]:
        def redraw(view: View) -> None:
            lines = self.fitted(view).split("\n")
            self.write(HOME + "".join(line + CLEAR_LINE + "\n" for line in lines) + CLEAR_BELOW)

        def append(view: View) -> None:
            self.write(plain_text(view) + "\n\n")

        yield redraw if self.terminal else append

    @contextlib.contextmanager
    def progress(self) -> Iterator[Tell]:
        if not self.terminal:
            yield lambda _: None
            return
        try:
            yield lambda text: self.write("\r" + text + CLEAR_LINE)
        finally:
            self.write("\r" + CLEAR_LINE)


class RichScreen:
    """Colour, tables and in-place redraws with rich."""

    def __init__(self, console: "Console", wide: bool = False) -> None:
        self.console = console
        self.wide = wide

    @property
    def width(self) -> Optional[int]:
        """The terminal's width now (it may change during a watch); ``None``: not fitted (``--wide``)."""
        return None if self.wide else self.console.width

    def fitted(self, view: View) -> "RenderableType":
        if self.wide:  # as wide as the view: the terminal wraps what it cannot show
            self.console.width = max(self.console.width, *(len(line) for line in plain_text(view).split("\n")))
        return renderable(view if self.width is None else fit(view, self.width))

    def show(self, view: View) -> None:
        self.console.print(self.fitted(view))

    @contextlib.contextmanager
    def live(self) -> Iterator[Draw]:
        from rich.live import Live

        with Live(console=self.console, auto_refresh=False, transient=False) as shown:
            yield lambda view: shown.update(self.fitted(view), refresh=True)

    @contextlib.contextmanager
    def progress(self) -> Iterator[Tell]:
        with self.console.status("reading") as status:
            yield lambda text: status.update(text)


class Screen(Protocol):
    """Where a command shows its views."""

    @property
    def width(self) -> Optional[int]:
        """The terminal's columns that views are fitted to (``None``: not a terminal, or ``--wide``)."""

    def show(self, view: View) -> None:
        """Show ``view`` once."""

    def live(self) -> ContextManager[Draw]:
        """A view redrawn with each call of the function it gives (``--watch``)."""

    def progress(self) -> ContextManager[Tell]:
        """A status line for a long read, gone when the read is done (nothing where it is not a terminal)."""


def open_screen(stream: Optional[TextIO] = None, *, wide: bool = False) -> Screen:
    """rich's screen where it is installed and ``stream`` (stdout) is a terminal, else plain text;
    ``wide``: views are not fitted to the terminal's width."""
    out = stream or sys.stdout
    try:
        from rich.console import Console
    except ImportError:
        return PlainScreen(out, terminal=is_terminal(out), wide=wide)
    console = Console(file=out, highlight=False)
    return RichScreen(console, wide) if console.is_terminal else PlainScreen(out, terminal=False)


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


def renderable(view: View) -> "RenderableType":
    from rich.console import Group

    return Group(*(rich_block(block) for block in view))


def rich_block(block: Block) -> "RenderableType":
    from rich import box
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    if isinstance(block, Line):
        return Text(block.text, style=STYLES.get(block.style, ""))
    if isinstance(block, Pairs):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        for label, value, *styled in block.rows:
            grid.add_row(Text(label), Text(value, style=STYLES.get(styled[0] if styled else "", ""), overflow="fold"))
        return Padding(grid, (0, 0, 0, len(block.indent)), expand=False)
    # Two spaces between columns (a cell's right padding and the box's blank divider), as plain text.
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for index, header in enumerate(block.headers):
        table.add_column(header, justify="right" if index in block.right else "left", no_wrap=True,
                         overflow="ellipsis")
    for index, row in enumerate(block.rows):
        row_style = block.styles[index] if index < len(block.styles) else ""
        table.add_row(*(Text(cell) for cell in row), style=STYLES.get(row_style, ""))
    return table
