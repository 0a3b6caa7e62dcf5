"""``map``: the SVG picture of an image, parsed and shown in a real browser (Debian's headless Chromium),
whose screenshot has each region's status colour at its centre."""

import math
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from pynamodb_tables import JobItem, RegionRequestItem
from pynamodb_tables.management.region_map import COLOURS, draw
from tests.support import management as support
from tests.support.management import Tables
from tests.support.model_runner_items import OldWorker
from tests.support.png import read_png

tables = support.tables  # fixture

SVG = "{http://www.w3.org/2000/svg}"
#: Debian's Chromium, headless, alone: no network of its own, a fresh profile each run.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--force-device-scale-factor=1", "--default-background-color=ffffffff")


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Debian's chromium is not installed: ./dev test installs it (apt-get install chromium)")
    return found


def screenshot(svg: Path, tmp_path: Path) -> Path:
    root = ET.parse(svg).getroot()
    width, height = math.ceil(float(root.get("width", "0"))), math.ceil(float(root.get("height", "0")))
    png = tmp_path / "map.png"
    subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                    f"--window-size={width},{height}", f"--screenshot={png}", svg.as_uri()],
                   check=True, capture_output=True, timeout=120)
    return png


def regions_of(svg: Path) -> List[Tuple[str, str, Tuple[float, float, float, float]]]:
    """Each drawn region's id, status and rectangle, as the SVG says."""
    found = []
    for group in ET.parse(svg).getroot().iter(f"{SVG}g"):
        if group.get("class") == "region":
            area = next(r for r in group.iter(f"{SVG}rect") if r.get("class") == "area")
            box = tuple(float(area.get(name, "0")) for name in ("x", "y", "width", "height"))
            found.append((str(group.get("data-region-id")), str(group.get("data-status")), box))
    return found  # type: ignore[return-value]


def rgb(colour: str) -> Tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def close(a: Tuple[int, int, int], b: Tuple[int, int, int]) -> bool:
    return all(abs(x - y) <= 3 for x, y in zip(a, b))


@support.local
def test_the_map_in_a_browser_has_each_status_colour_at_each_region_centre(tables: Tables, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Four regions of 2x2 tiles in the model runner's own item forms: SUCCESS, PARTIAL (a failed tile),
    FAILED (every tile failed) and one still running; drawn by the command, shown by Chromium."""
    assert support.main(["create-tables", *tables.args()]) == 0
    old = OldWorker(tables.endpoint, tables.job, tables.region)
    old.start_image("img", 4)
    corners = {"r-a": (0, 0), "r-b": (512, 0), "r-c": (0, 512), "r-d": (512, 512)}
    outcomes = {"r-a": ("SUCCESS", 0), "r-b": ("PARTIAL", 1), "r-c": ("FAILED", 4), "r-d": ("STARTED", 0)}
    for region_id, (x, y) in corners.items():
        tiles = [[[x + dx, y + dy], [256, 256]] for dx in (0, 256) for dy in (0, 256)]
        status, failing = outcomes[region_id]
        old.start_region("img", region_id, bounds=[[x, y], [512, 512]])
        if status != "STARTED":
            old.process_region("img", region_id, tiles[failing:], tiles[:failing], status, read_back=True)
    out = tmp_path / "img.svg"
    assert tables.cli(capsys, "map", "img", "--out", str(out)).returncode == 0

    drawn = regions_of(out)
    assert [(region_id, status) for region_id, status, _ in drawn] == [
        (region_id, status) for region_id, (status, _) in outcomes.items()]
    image = read_png(screenshot(out, tmp_path))
    seen: Dict[str, Any] = {}
    for region_id, status, (x, y, w, h) in drawn:
        seen[region_id] = image.pixel(round(x + w / 2), round(y + h / 2))
        assert close(seen[region_id], rgb(COLOURS[status])), (region_id, status, seen[region_id])
    assert len(set(seen.values())) == 4, "four statuses, four colours"
    # r-a sits left of r-b (x before y): the contract's [[x, y], [w, h]]
    assert drawn[0][2][0] < drawn[1][2][0] and drawn[0][2][1] == drawn[1][2][1]


def test_the_svg_is_valid_escaped_and_titled() -> None:
    job = JobItem("img & <co>", "job", width=2000, height=1000, region_count=3, region_success=1, region_error=1)
    regions = [RegionRequestItem("r<1>", "img", region_status="SUCCESS", region_bounds=[[0, 0], [1000, 1000]],
                                 succeeded_tiles=[[[0, 0], [500, 500]]]),
               RegionRequestItem("r-2", "img", region_status="FAILED", region_bounds=[[1000, 0], [1000, 1000]],
                                 failed_tiles=[[[1000, 0], [500, 500]], [[1500, 0], [500, 500]]]),
               RegionRequestItem("r-3", "img", region_status="IN_PROGRESS")]
    picture = draw(job, regions)
    root = ET.fromstring(picture.svg.split("\n", 1)[1])
    assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title").text == "image img & <co> (job job)"
    titles = [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "region"]
    assert titles == ["r-2: FAILED, 0 tile(s) succeeded, 2 failed, retries 0",
                      "r<1>: SUCCESS, 1 tile(s) succeeded, 0 failed, retries 0"]
    assert picture.regions_not_drawn == ["r-3"] and picture.regions_by_status == {
        "SUCCESS": 1, "FAILED": 1, "IN_PROGRESS": 1}
    assert len([r for r in root.iter(f"{SVG}rect") if r.get("class") == "failed-tile"]) == 2
    # The picture is scaled to fit: 2000 x 1000 pixels in 900 x 450.
    image = next(r for r in root.iter(f"{SVG}rect") if r.get("class") == "image")
    assert (float(image.get("width", "0")), float(image.get("height", "0"))) == (900.0, 450.0)


def test_row_col_reads_the_model_runners_bounds() -> None:
    job = JobItem("img", width=1200, height=900)
    region = RegionRequestItem("r", "img", region_status="SUCCESS", region_bounds=[[428, 752], [444, 470]])
    xy = draw(job, [region]).svg
    rowcol = draw(job, [region], row_col=True).svg
    assert 'x="' in xy and xy != rowcol
    area = next(r for r in ET.fromstring(rowcol.split("\n", 1)[1]).iter(f"{SVG}rect") if r.get("class") == "area")
    scale = min(900 / 1200, 640 / 900)  # fitted into 900 x 640
    assert math.isclose(float(area.get("x", "0")), 16 + 752 * scale, abs_tol=0.01)
    assert math.isclose(float(area.get("y", "0")), 50 + 428 * scale, abs_tol=0.01)
