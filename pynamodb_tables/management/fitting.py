"""A view fitted to a terminal's width: ids shortened, never a state column dropped.

Label-value pairs keep their values whole, folded over more lines where they are too long.

Each table (:class:`~.render.Grid`) keeps every column except, in this order:

- its ``redundant`` columns, left out as soon as an id would otherwise be shortened (what they
  tell is also in another column: the job id at the start of a model runner's image id);
- its ``optional`` columns, right to left, left out while an id column would get fewer than
  :data:`MIN_ID_WIDTH` characters (a time that another column tells as an age or duration).

Then the id columns share what is left. An id that does not fit loses, first, the end that
every id of its column shares, from a separator on (``((0, 0), (2048, 2048))-…`` for regions
whose ids end with their job id) and then its end; or, when they share no end, its middle
(``5e0c7d2a-…/scene-0042.tif``). A line under the table says what was shortened or left out,
and that ``--wide`` shows it all (as ``--json`` does).
Output that is not a terminal is never fitted.
"""

from dataclasses import replace
from typing import List, Sequence, Tuple

from .render import Block, Grid, Line, Pairs, View

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

