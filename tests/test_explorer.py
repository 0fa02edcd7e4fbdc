"""The static explorer page: its files, and hovering, zooming and panning in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import wemd
from tests.test_embed import structured_dataset
from wemd.viz.explorer import build_explorer

@pytest.fixture
def explorer(home):
    structured_dataset(home, counts={"train": 30, "val": 3, "test": 3})
    ds = wemd.load("stem_96x96", "train")
    page = build_explorer(ds, home / "explorer", "pca", n_iter=100, progress=False)
    return ds, page


def wait_until(tab, expression: str, seconds: float = 10.0) -> None:
    """Poll ``expression`` with page.evaluate: the page's CSP forbids eval, which playwright's
    wait_for_function needs for every poll after the first (flaky when the first poll fails)."""
    import time

    end = time.monotonic() + seconds
    while not tab.evaluate(expression):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.05)


def _data(page: Path) -> dict:
    text = page.read_text()
    m = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def test_page_is_self_contained_with_one_thumbnail_per_point(explorer):
    ds, page = explorer
    text = page.read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), "no external resources"
    assert "<script src" not in text and "@import" not in text
    data = _data(page)
    assert data["positions"] == list(range(30))
    assert len(data["x"]) == len(data["y"]) == 30 and 0 <= min(data["x"]) and max(data["x"]) <= 1
    assert data["meta"][7]["id"] == ds.item_id(7) and data["meta"][7]["provenance"] == "subset"
    assert "path" not in data["meta"][7]  # no local file paths in a page meant for sharing
    assert "not the real WEMD" in data["title"]
    thumbs = sorted((page.parent / "thumbs").glob("*.png"))
    assert len(thumbs) == 30
    from PIL import Image

    thumb = np.asarray(Image.open(page.parent / "thumbs" / "7.png"))
    assert thumb.shape == (96, 96) and thumb.dtype == np.uint8 and thumb.min() == 0 and thumb.max() == 255


@pytest.mark.browser
@pytest.mark.slow
def test_hover_zoom_and_pan_in_headless_chromium(explorer, browser_tab, tmp_path):
    ds, page = explorer
    requests: list[str] = []
    tab = browser_tab
    tab.on("request", lambda r: requests.append(r.url))
    errors = tab.errors
    tab.goto(page.as_uri())
    wait_until(tab, "window.wemdExplorer !== undefined")
    target = 7
    box = tab.eval_on_selector("#canvas", "c => { const r = c.getBoundingClientRect(); "
                               "return [r.left, r.top]; }")
    sx, sy = tab.evaluate(f"window.wemdExplorer.screenPosition({target})")
    tab.mouse.move(box[0] + sx, box[1] + sy)
    wait_until(tab, "document.getElementById('preview').complete && "
                    "document.getElementById('preview').naturalWidth === 96")
    assert tab.evaluate("window.wemdExplorer.hovered()") == target
    src = tab.get_attribute("#preview", "src")
    assert src == f"thumbs/{target}.png"
    meta = tab.inner_text("#meta")
    assert ds.item_id(target) in meta and "subset" in meta
    shot = tmp_path / "hover.png"
    tab.screenshot(path=str(shot))
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    prev = tab.eval_on_selector("#preview", "e => { const r = e.getBoundingClientRect(); "
                                "return [r.left, r.top, r.width, r.height]; }")
    x0, y0, w, h = (int(round(v)) for v in prev)
    region = img[y0 + 2:y0 + h - 2, x0 + 2:x0 + w - 2]
    assert region.std() > 20  # the micrograph is drawn, not an empty box
    # zoom about the cursor keeps the hovered point under it; drag pans
    tab.mouse.wheel(0, -400)
    wait_until(tab, "window.wemdExplorer.view().scale > 1.5")
    sx2, sy2 = tab.evaluate(f"window.wemdExplorer.screenPosition({target})")
    assert abs(sx2 - sx) < 2 and abs(sy2 - sy) < 2
    before = tab.evaluate("window.wemdExplorer.view().tx")
    tab.mouse.down()
    tab.mouse.move(box[0] + sx - 120, box[1] + sy, steps=5)
    tab.mouse.up()
    assert tab.evaluate("window.wemdExplorer.view().tx") == pytest.approx(before - 120, abs=2)
    shutil.copy(shot, Path(page.parent) / "hover-screenshot.png")
    assert not errors
    assert requests and all(u.startswith("file://") for u in requests), requests


def test_cli_explore_writes_the_page(home, capsys):
    from wemd.cli import main

    structured_dataset(home, "wavefunctions_96x96_single", {"train": 20, "val": 4})
    out = home / "ex"
    assert main(["explore", "wavefunctions_96x96_single", "--view", "phase", "--out", str(out),
                 "--tsne-iterations", "100"]) == 0
    assert (out / "index.html").is_file() and len(list((out / "thumbs").glob("*.png"))) == 20
    assert _data(out / "index.html")["record"]["view"] == "phase"
