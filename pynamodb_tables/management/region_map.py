"""``map``: an image job as an SVG picture, written by the package (no plotting dependency).

The image's footprint (the job's ``width`` x ``height``) with each region drawn at its
``region_bounds``, filled with its status's colour (a legend names them), its failed tiles
outlined inside it, its ``region_id`` (with status, tiles and retries) in its ``<title>`` (a
browser shows it on hover), and the counts in a caption. Bounds and tiles are read as the
contract stores them, ``[[x, y], [w, h]]``; osml-model-runner's own tiling writes
``[[row, column], [w, h]]`` (``row_col=True`` draws those). The picture is scaled to fit
:data:`MAX_PICTURE` pixels; an image without ``width`` and ``height`` is drawn as far as its
regions reach.
"""

from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape, quoteattr

from ..items import RegionRequestItem
from ..job_table import JobItem
from ..reads import read_job
from .arguments import TablePair

#: Largest picture drawn (width, height), in pixels; the image is scaled to fit.
MAX_PICTURE = (900.0, 640.0)
MARGIN, TITLE_HEIGHT, LINE_HEIGHT, MIN_WIDTH = 16.0, 34.0, 20.0, 620.0
RUNNING = "running"
#: Fill colours by status (and for a region without one), in legend order.
COLOURS = {"SUCCESS": "#2e7d32", "PARTIAL": "#f9a825", "FAILED": "#c62828", "IN_PROGRESS": "#1565c0",
           "STARTED": "#64b5f6", "NONE": "#9e9e9e"}
FAILED_TILE = "#3b0a0a"
Box = Tuple[float, float, float, float]  # x, y, width, height


@dataclass(frozen=True)
class RegionMap:
    """The picture and what it shows (``map --json``)."""

    image_id: str
    svg: str
    width: int
    height: int
    regions: int
    regions_by_status: Dict[str, int]
    regions_not_drawn: List[str]
    succeeded_tiles: int
    failed_tiles: int


def box(bounds: Any, row_col: bool) -> Optional[Box]:
    """``[[x, y], [w, h]]`` (or ``[[row, column], [w, h]]``) as ``(x, y, w, h)``; ``None`` if malformed."""
    try:
        (first, second), (width, height) = bounds
        x, y = (second, first) if row_col else (first, second)
        return float(x), float(y), float(width), float(height)
    except (TypeError, ValueError):
        return None


def status_of(region: RegionRequestItem) -> str:
    return str(region.region_status) if region.region_status in COLOURS else "NONE"


def extent(job: JobItem, boxes: Sequence[Box]) -> Tuple[float, float]:
    """The width and height drawn: the image's, widened to every region's far edge."""
    width = max([float(job.width or 0), *(x + w for x, _, w, _ in boxes)])
    height = max([float(job.height or 0), *(y + h for _, y, _, h in boxes)])
    return max(width, 1.0), max(height, 1.0)


def number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def rect(b: Box, **attributes: str) -> str:
    extra = "".join(f" {name.rstrip('_').replace('_', '-')}={quoteattr(value)}" for name, value in attributes.items())
    return (f'<rect x="{number(b[0])}" y="{number(b[1])}" width="{number(b[2])}" height="{number(b[3])}"'
            f"{extra}/>")


def text(x: float, y: float, content: str, size: int = 13, weight: str = "normal") -> str:
    return (f'<text x="{number(x)}" y="{number(y)}" font-family="sans-serif" font-size="{size}" '
            f'font-weight="{weight}" fill="#222">{escape(content)}</text>')


def draw(job: JobItem, regions: Sequence[RegionRequestItem], *, row_col: bool = False) -> RegionMap:
    """The SVG of ``job`` and its ``regions``."""
    ordered = sorted(regions, key=lambda r: str(r.region_id))
    placed = [(region, box(region.region_bounds, row_col)) for region in ordered]
    boxes = [b for _, b in placed if b is not None]
    width, height = extent(job, boxes)
    scale = min(MAX_PICTURE[0] / width, MAX_PICTURE[1] / height)
    left, top = MARGIN, MARGIN + TITLE_HEIGHT

    def on_screen(b: Box) -> Box:
        return left + b[0] * scale, top + b[1] * scale, b[2] * scale, b[3] * scale

    body = [rect(on_screen((0, 0, float(job.width or width), float(job.height or height))), fill="#f5f5f5",
                 stroke="#616161", stroke_width="1", class_="image")]
    by_status: Counter[str] = Counter()
    succeeded = failed = 0
    not_drawn: List[str] = []
    for region, bounds in placed:
        status = status_of(region)
        by_status[status] += 1
        ok_tiles, bad_tiles = list(region.succeeded_tiles or []), list(region.failed_tiles or [])
        succeeded, failed = succeeded + len(ok_tiles), failed + len(bad_tiles)
        if bounds is None:
            not_drawn.append(str(region.region_id))
            continue
        label = (f"{region.region_id}: {status}, {len(ok_tiles)} tile(s) succeeded, {len(bad_tiles)} failed"
                 f"{'' if region.total_tiles is None else f' of {int(region.total_tiles)}'}, "
                 f"retries {int(region.region_retry_count or 0)}")
        parts = [f"<title>{escape(label)}</title>",
                 rect(on_screen(bounds), fill=COLOURS[status], stroke="#212121", stroke_width="1", class_="area")]
        for tile in bad_tiles:
            tile_box = box(tile, row_col)
            if tile_box is not None:
                parts.append(failed_tile(inset(on_screen(tile_box))))
        body.append(f'<g class="region" data-status="{status}" data-region-id={quoteattr(str(region.region_id))}>'
                    + "".join(parts) + "</g>")
    total_width = max(left + width * scale + MARGIN, MIN_WIDTH)
    legend, legend_bottom = legend_items(left, top + height * scale + 14, total_width - MARGIN, by_status)
    caption = caption_lines(job, len(placed), by_status, succeeded, failed, not_drawn, row_col)
    baseline = legend_bottom + LINE_HEIGHT
    body += legend
    body += [text(left, baseline + LINE_HEIGHT * n, line, size=12) for n, line in enumerate(caption)]
    total_height = baseline + LINE_HEIGHT * (len(caption) - 1) + MARGIN
    title = f"image {job.image_id}" + (f" (job {job.job_id})" if job.job_id else "")
    svg = "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{number(total_width)}" height="{number(total_height)}" '
        f'viewBox="0 0 {number(total_width)} {number(total_height)}">',
        f"<title>{escape(title)}</title>",
        rect((0, 0, total_width, total_height), fill="#ffffff"),
        text(left, MARGIN + 16, title, size=16, weight="bold"),
        *body,
        "</svg>", ""])
    return RegionMap(str(job.image_id), svg, int(width), int(height), len(placed), dict(by_status), not_drawn,
                     succeeded, failed)


def inset(b: Box) -> Box:
    """A tile's outline drawn inside it (12% in), so that neighbouring tiles' outlines do not meet."""
    dx, dy = max(b[2] * 0.12, 1.0), max(b[3] * 0.12, 1.0)
    return b[0] + dx, b[1] + dy, max(b[2] - 2 * dx, 1.0), max(b[3] - 2 * dy, 1.0)


def failed_tile(b: Box, kind: str = "failed-tile") -> str:
    """A failed tile's outline: dark dashes over a light line, seen on every status colour."""
    dashes = rect(b, fill="none", stroke=FAILED_TILE, stroke_width="1.5", stroke_dasharray="5 3", class_=kind)
    return f'<g>{rect(b, fill="none", stroke="#ffffff", stroke_width="3")}{dashes}</g>'


def legend_items(left: float, top: float, right: float, by_status: "Counter[str]") -> Tuple[List[str], float]:
    """A swatch per status (with its count), then the failed tile's outline, in rows up to ``right``;
    where the last row ends."""
    entries = [(f"{'no status' if status == 'NONE' else status} ({by_status.get(status, 0)})",
                rect((0, 0, 14, 14), fill=colour, stroke="#212121", stroke_width="1", class_="swatch"))
               for status, colour in COLOURS.items()]
    entries.append(("failed tile", failed_tile((0, 0, 14, 14), kind="swatch")))
    items, x, y = [], left, top
    for label, swatch in entries:
        width = 30 + 7.0 * len(label)
        if x > left and x + width > right:
            x, y = left, y + LINE_HEIGHT
        items.append(f'<g transform="translate({number(x)},{number(y)})">{swatch}</g>')
        items.append(text(x + 20, y + 12, label, size=12))
        x += width + 8
    return items, y + 16


def caption_lines(job: JobItem, regions: int, by_status: "Counter[str]", succeeded: int, failed: int,
                  not_drawn: List[str], row_col: bool) -> List[str]:
    running = by_status.get("STARTED", 0) + by_status.get("IN_PROGRESS", 0)
    outcomes = ", ".join(f"{by_status.get(s, 0)} {s}" for s in ("SUCCESS", "PARTIAL", "FAILED"))
    state = "ended" if job.end_time is not None else "not ended"
    lines = [f"{regions} region(s): {outcomes}, {running} running; tiles: {succeeded} succeeded, {failed} failed",
             f"job: region_success {int(job.region_success or 0)}, region_error {int(job.region_error or 0)}, "
             f"region_count {'-' if job.region_count is None else int(job.region_count)}; {state}; "
             f"{int(job.width or 0)} x {int(job.height or 0)} pixels"
             f"{' (bounds read as [[row, column], [w, h]])' if row_col else ''}"]
    if not_drawn:
        lines.append(f"{len(not_drawn)} region(s) without bounds not drawn: {', '.join(not_drawn[:5])}"
                     + (" ..." if len(not_drawn) > 5 else ""))
    return lines


def region_map(tables: TablePair, image_id: str, *, row_col: bool = False) -> RegionMap:
    """Read the job of ``image_id`` and its regions (strongly consistent) and draw them."""
    job = read_job(tables.job, image_id, "map", listed=False)
    assert job is not None
    return draw(job, tables.region.list_regions(image_id), row_col=row_col)
