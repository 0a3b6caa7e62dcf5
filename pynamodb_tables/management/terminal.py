"""Where views are shown: colour and in-place redraws in a terminal, plain lines anywhere else.

With rich installed (``pip install 'pynamodb_tables[cli]'``) and stdout a terminal (or
``FORCE_COLOR`` / ``TTY_COMPATIBLE=1`` set), views are drawn with colour; rich leaves colour
out when ``NO_COLOR`` is set. Live views (``--watch``) are redrawn in place, without clearing
the screen. Without rich, a terminal gets plain text redrawn in place the same way; stdout that
is not a terminal (a pipe, a file, a log) gets plain lines only: no colour, no cursor movement,
no progress. In a terminal, views are fitted to its width (:mod:`.fitting`: ids shortened, never
a state column left out) unless ``--wide`` asks for them whole.
"""

import contextlib
import shutil
import sys
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator, Optional, Protocol, TextIO

from .fitting import fit
from .render import Block, Line, Pairs, View, plain_text

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
