"""A static, self-contained page to explore a dataset map: hover a point to see its image and
metadata; zoom with the wheel, pan by dragging, double-click to reset.

Output: ``{out}/index.html`` (all JavaScript inline, a canvas, no network access at all) and
``{out}/thumbs/{position}.png``, one 96x96 greyscale thumbnail per mapped item. Open the page
straight from disk or serve the folder with any static server.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd.files import atomic_path, write_text
from wemd.viz.embed import minmax
from wemd.viz.maps import DatasetMap, compute_map
from wemd.viz.vae import VAEConfig

THUMBS = "thumbs"


def write_thumbnails(images: np.ndarray, positions: np.ndarray, folder: Path,
                     progress: bool = True) -> None:
    """One min-max scaled 8-bit PNG per image, named by item position."""
    from PIL import Image
    from tqdm.auto import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    for img, pos in tqdm(zip(images, positions), total=len(positions), desc="thumbnails",
                         disable=not progress, unit="img"):
        pixels = np.round(minmax(img[None])[0] * 255).astype(np.uint8)
        with atomic_path(folder / f"{int(pos)}.png") as tmp:
            Image.fromarray(pixels).save(tmp, format="PNG")


#: What JSON embedded in a page must not contain literally: "<" and ">" could end the script
#: element or open a comment ("<!--<script>" swallows the real "</script>"), "&" could start a
#: character reference, and U+2028/U+2029 end lines in older JavaScript. All become \u escapes,
#: which JSON.parse reads back as the same characters.
_HTML_UNSAFE = {ord(c): f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"}


def json_for_html(obj: Any) -> str:
    """``obj`` as JSON that can sit inside a ``<script>`` element of an HTML page as it is."""
    return json.dumps(obj, separators=(",", ":")).translate(_HTML_UNSAFE)


def _metadata(dataset: Any, position: int) -> dict[str, Any]:
    """What the page shows for one item: the dataset's metadata minus local file paths."""
    meta = dataset.metadata(int(position))
    return {k: v for k, v in meta.items() if k != "path" and isinstance(v, (str, int, float, bool))}


def write_explorer(dmap: DatasetMap, images: np.ndarray, metadata: list[dict[str, Any]],
                   out: Path, progress: bool = True) -> Path:
    """Write the page and its thumbnails for an already computed map; returns index.html."""
    out = Path(out)
    write_thumbnails(images, dmap.positions, out / THUMBS, progress)
    c = np.asarray(dmap.coords, dtype=np.float64)
    lo, span = c.min(axis=0), np.ptp(c, axis=0)
    unit = (c - lo) / np.where(span > 0, span, 1.0)
    data = {"title": dmap.label, "record": dmap.record(), "thumbs": THUMBS,
            "positions": [int(p) for p in dmap.positions],
            "x": np.round(unit[:, 0], 5).tolist(), "y": np.round(unit[:, 1], 5).tolist(),
            "meta": metadata}
    page = PAGE.replace("__TITLE__", html.escape(dmap.label)).replace("__DATA__", json_for_html(data))
    return write_text(out / "index.html", page)


def build_explorer(dataset: Any, out: Path, embedding: str = "pca", *, sigma_aware: bool = False,
                   view: str = "amplitude", limit: Optional[int] = None,
                   vae: Optional[VAEConfig] = None, n_iter: int = 750, seed: int = 0,
                   progress: bool = True) -> Path:
    """Map a 96x96 split and write the explorer into the folder ``out``; returns index.html."""
    dmap, images = compute_map(dataset, embedding, sigma_aware=sigma_aware, view=view,
                               limit=limit, vae=vae, n_iter=n_iter, seed=seed, progress=progress)
    meta = [_metadata(dataset, p) for p in dmap.positions]
    return write_explorer(dmap, images, meta, out, progress)


PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>__TITLE__</title>
<style>
  html, body { margin: 0; height: 100%; font: 14px/1.4 system-ui, sans-serif; color: #222; }
  body { display: flex; }
  #map { flex: 1; position: relative; background: #fafafa; cursor: grab; }
  #map.dragging { cursor: grabbing; }
  canvas { display: block; width: 100%; height: 100%; }
  #side { width: 320px; padding: 12px; border-left: 1px solid #ddd; overflow: auto; }
  #side h1 { font-size: 15px; margin: 0 0 8px; }
  #preview { width: 288px; height: 288px; image-rendering: pixelated; background: #eee;
             border: 1px solid #ccc; display: block; }
  #meta { border-collapse: collapse; margin-top: 8px; width: 100%; }
  #meta td { border-bottom: 1px solid #eee; padding: 2px 4px; vertical-align: top;
             word-break: break-all; }
  #meta td:first-child { color: #666; white-space: nowrap; }
  .hint { color: #777; font-size: 12px; margin-top: 10px; }
</style>
</head>
<body>
<div id="map"><canvas id="canvas"></canvas></div>
<div id="side">
  <h1 id="title"></h1>
  <img id="preview" alt="hover a point">
  <table id="meta"></table>
  <p class="hint">Hover a point to see its image. Wheel: zoom. Drag: pan. Double-click: reset.</p>
</div>
<script id="data" type="application/json">__DATA__</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var n = D.x.length, canvas = document.getElementById("canvas"), ctx = canvas.getContext("2d");
  var box = document.getElementById("map"), preview = document.getElementById("preview");
  var table = document.getElementById("meta");
  document.getElementById("title").textContent = D.title;
  var view = { scale: 1, tx: 0, ty: 0 }, base = 1, pad = 20, hover = -1, drag = null;

  function resize() {
    var r = box.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    canvas.width = r.width * dpr; canvas.height = r.height * dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    base = Math.min(r.width, r.height) - 2 * pad;
    draw();
  }
  function screenPosition(i) {  // CSS pixels relative to the canvas
    return [pad + D.x[i] * base * view.scale + view.tx,
            pad + (1 - D.y[i]) * base * view.scale + view.ty];
  }
  function draw() {
    var w = canvas.clientWidth, h = canvas.clientHeight;
    ctx.clearRect(0, 0, w, h);
    var r = Math.min(8, Math.max(1.5, Math.min(5, 40 / Math.sqrt(n))) * Math.sqrt(view.scale));
    ctx.fillStyle = "rgba(31, 78, 153, 0.65)";
    for (var i = 0; i < n; i++) {
      var p = screenPosition(i);
      if (p[0] < -r || p[1] < -r || p[0] > w + r || p[1] > h + r) continue;
      ctx.beginPath(); ctx.arc(p[0], p[1], r, 0, 2 * Math.PI); ctx.fill();
    }
    if (hover >= 0) {
      var q = screenPosition(hover);
      ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(q[0], q[1], r + 4, 0, 2 * Math.PI); ctx.stroke();
    }
  }
  function nearest(mx, my, radius) {
    var best = -1, bd = radius * radius;
    for (var i = 0; i < n; i++) {
      var p = screenPosition(i), dx = p[0] - mx, dy = p[1] - my, d = dx * dx + dy * dy;
      if (d <= bd) { bd = d; best = i; }
    }
    return best;
  }
  function show(i) {
    if (i === hover) return;
    hover = i;
    draw();
    if (i < 0) return;
    preview.src = D.thumbs + "/" + D.positions[i] + ".png";
    preview.alt = "item " + D.positions[i];
    while (table.firstChild) table.removeChild(table.firstChild);
    var meta = D.meta[i] || {};
    Object.keys(meta).forEach(function (k) {
      var tr = document.createElement("tr"), a = document.createElement("td"), b = document.createElement("td");
      a.textContent = k; b.textContent = String(meta[k]);
      tr.appendChild(a); tr.appendChild(b); table.appendChild(tr);
    });
  }
  function local(e) { var r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }

  canvas.addEventListener("mousemove", function (e) {
    var m = local(e);
    if (drag) {
      view.tx = drag.tx + m[0] - drag.x; view.ty = drag.ty + m[1] - drag.y; drag.moved = true;
      draw(); return;
    }
    show(nearest(m[0], m[1], 10));
  });
  canvas.addEventListener("mousedown", function (e) {
    var m = local(e); drag = { x: m[0], y: m[1], tx: view.tx, ty: view.ty, moved: false };
    box.classList.add("dragging");
  });
  window.addEventListener("mouseup", function () { drag = null; box.classList.remove("dragging"); });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    var m = local(e), f = Math.exp(-e.deltaY * 0.0015);
    var s = Math.max(0.5, Math.min(200, view.scale * f)); f = s / view.scale;
    view.tx = m[0] - pad - (m[0] - pad - view.tx) * f;
    view.ty = m[1] - pad - (m[1] - pad - view.ty) * f;
    view.scale = s; draw();
  }, { passive: false });
  canvas.addEventListener("dblclick", function () { view = { scale: 1, tx: 0, ty: 0 }; draw(); });
  window.addEventListener("resize", resize);
  window.wemdExplorer = { view: function () { return view; }, screenPosition: screenPosition,
                          positions: D.positions, hovered: function () { return hover; } };
  resize();
})();
</script>
</body>
</html>
"""
