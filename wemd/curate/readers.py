"""Read microscope files into 2-D frames with their metadata, through rosettasciio.

One function, :func:`read_frames`, turns a DM3/DM4, Velox or Berkeley EMD, FEI SER, MRC or TIFF
file into a list of :class:`Frame` (pixels + pixel size, voltage, magnification, detector, date,
operator, session) or raises :class:`Rejected` naming why the file cannot be used: an unknown
format, an unreadable or truncated file, a signal that is not an image (spectra, spectrum
images, 4D-STEM), a stack when stacks are refused, or a declared size over the limit (checked
from the lazily opened header before any pixel is read).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

#: file suffix -> rosettasciio plugin module
PLUGINS = {".dm3": "rsciio.digitalmicrograph", ".dm4": "rsciio.digitalmicrograph",
           ".emd": "rsciio.emd", ".ser": "rsciio.tia", ".mrc": "rsciio.mrc",
           ".tif": "rsciio.tiff", ".tiff": "rsciio.tiff"}
#: suffixes read through other files (an .emi is the metadata companion of its .ser files)
COMPANIONS = {".emi": "FEI EMI metadata companion: its images are read from the .ser files beside it"}
#: the largest file and the largest declared image data accepted (bytes)
MAX_FILE_BYTES = 4 << 30
MAX_DATA_BYTES = 4 << 30
#: the largest side of one frame (pixels)
MAX_SIDE = 65536


class Rejected(Exception):
    """A file (or all of it) cannot be used; ``reason`` says why, for the rejection list."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Frame:
    """One 2-D image from a file, with what its file says about it."""

    data: np.ndarray
    frame: int  # position among the file's frames (signals, then stack frames, in reading order)
    meta: dict[str, Any] = field(default_factory=dict)


def read_frames(path: Path, *, stacks: str = "split", max_data_bytes: int = MAX_DATA_BYTES
                ) -> tuple[list[Frame], list[str]]:
    """Every 2-D image in ``path`` and notes on signals skipped inside it.

    ``stacks``: ``"split"`` takes each frame of an image stack, ``"refuse"`` rejects stacks.
    Raises :class:`Rejected` when the file gives no image at all.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in COMPANIONS:
        raise Rejected(COMPANIONS[suffix])
    if suffix not in PLUGINS:
        raise Rejected(f"unsupported format {suffix or '(no suffix)'!r}; readable: "
                       f"{', '.join(sorted(set(PLUGINS)))}")
    size = path.stat().st_size
    if size == 0:
        raise Rejected("empty file (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise Rejected(f"file of {size} bytes is over the {MAX_FILE_BYTES}-byte limit")
    if suffix == ".emd":
        _refuse_outside_data(path)
    signals = _open(path, PLUGINS[suffix], lazy=True)  # headers only: check before reading
    plans: list[tuple[int, bool, int, dict]] = []
    skipped: list[str] = []
    for k, signal in enumerate(signals):
        try:
            plans.append((k, *_plan(signal, stacks, max_data_bytes)))
        except Rejected as exc:
            skipped.append(f"signal {k}: {exc.reason}")
    if not plans:
        raise Rejected("; ".join(skipped) or "no signal in the file")
    data = [s["data"] for s in signals]
    if not skipped:  # every signal is a wanted image of checked size: one eager read is faster
        eager = _open(path, PLUGINS[suffix], lazy=False)
        if len(eager) == len(signals):
            data = [s["data"] for s in eager]
    frames: list[Frame] = []
    for k, nav, count, meta in plans:
        for j in range(count):
            try:
                pixels = np.asarray(_compute(data[k][j] if nav else data[k]))
            except Exception as exc:  # truncated pixel data shows only when read
                raise Rejected(f"pixel data unreadable ({type(exc).__name__}: {_short(exc)})") from None
            frames.append(Frame(pixels, frame=len(frames), meta={**meta, "signal": k,
                                                                "stack_frame": j if nav else None}))
    return frames, skipped


def import_readers() -> None:
    """Import every reader now (a worker does, before its first file's time limit starts)."""
    for plugin in sorted(set(PLUGINS.values())):
        importlib.import_module(plugin)


def _open(path: Path, plugin: str, lazy: bool) -> list[dict]:
    """rosettasciio's signal dictionaries (``lazy``: headers only, pixels on demand)."""
    reader: Callable[..., list[dict]] = importlib.import_module(plugin).file_reader
    try:
        return list(reader(str(path), lazy=lazy))
    except MemoryError:
        raise Rejected("declared data too large to open") from None
    except Exception as exc:  # the readers raise many types on damaged files
        raise Rejected(f"unreadable ({type(exc).__name__}: {_short(exc)})") from None


def _refuse_outside_data(path: Path) -> None:
    """Rejected if an EMD (HDF5) file keeps data in other files: an external link, external
    raw storage or a virtual dataset would make its reader pull any file of this machine into
    the curated images. Looked up without following a link; an unreadable file is left to the
    reader to name."""
    import h5py

    found: list[str] = []

    def link(name: str, info: Any) -> Optional[bool]:
        if isinstance(info, h5py.ExternalLink):
            found.append(name)
            return True
        return None

    def dataset(name: str, obj: Any) -> Optional[bool]:
        if isinstance(obj, h5py.Dataset) and (obj.external or obj.is_virtual):
            found.append(name)
            return True
        return None

    try:
        with h5py.File(path, "r") as f:
            if f.visititems_links(link) is None:
                f.visititems(dataset)
    except (OSError, ValueError):
        return
    if found:
        raise Rejected(f"HDF5 object {found[0]!r} keeps its data in another file (an external "
                       "link, external storage or a virtual dataset); not read")


def _short(exc: BaseException, n: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _plan(signal: dict, stacks: str, max_data_bytes: int) -> tuple[bool, int, dict[str, Any]]:
    """(is a stack, frames, metadata) of one signal from its header, or Rejected saying why."""
    axes = sorted(signal.get("axes", []), key=lambda a: a.get("index_in_array", 0))
    data = signal["data"]
    shape = tuple(int(n) for n in data.shape)
    nav = [a for a in axes if a.get("navigate")]
    sig = [a for a in axes if not a.get("navigate")]
    kind = (signal.get("metadata", {}).get("Signal", {}) or {}).get("signal_type", "") or ""
    if kind and kind.upper() not in ("", "IMAGE", "SIGNAL2D"):
        raise Rejected(f"a {kind} signal, not an image")
    if len(shape) == 4:
        raise Rejected(f"a 4-D data set of shape {shape} (4D-STEM), not an image")
    if len(sig) != 2 or len(shape) != len(axes):
        what = {0: "a single value", 1: "a spectrum or line profile"}.get(len(sig), f"{len(sig)}-D signal")
        raise Rejected(f"{what} of shape {shape}, not a 2-D image")
    if len(nav) > 1:
        raise Rejected(f"a 4D-STEM or spectrum-image data set of shape {shape}, not an image")
    if nav and stacks == "refuse":
        raise Rejected(f"an image stack of {shape[0]} frames (stacks refused; use --stacks split)")
    h, w = shape[-2:]
    if h < 1 or w < 1 or max(h, w) > MAX_SIDE:
        raise Rejected(f"frame of {h}x{w} pixels is outside 1..{MAX_SIDE}")
    nbytes = math.prod(shape) * np.dtype(data.dtype).itemsize
    if nbytes > max_data_bytes:
        raise Rejected(f"declared data of {nbytes} bytes {shape} is over the {max_data_bytes}-byte limit")
    if np.issubdtype(data.dtype, np.complexfloating) or data.dtype.names:
        raise Rejected(f"{data.dtype} pixels (FFT, DPC or colour data), not an intensity image")
    meta = signal_metadata(signal, sig)
    return bool(nav), shape[0] if nav else 1, meta


def _compute(arr: Any) -> Any:
    """A lazily read frame's pixels, computed here (on a Dask worker too: never resubmitted)."""
    return arr.compute(scheduler="synchronous") if hasattr(arr, "compute") else arr


# ------------------------------------------------------------------------------ metadata

def apply_mapping(original: dict, mapping: Optional[dict]) -> dict:
    """rosettasciio's ``mapping`` applied to ``original_metadata`` (what HyperSpy does on load):
    ``{"A.B.C": ("X.Y", fn)}`` copies ``original[A][B][C]`` (through ``fn``) to ``out[X][Y]``."""
    out: dict = {}
    for src, (dst, fn) in (mapping or {}).items():
        value = _get(original, src.split("."))
        if value is None:
            continue
        try:
            value = fn(value) if fn is not None else value
        except Exception:  # a mapping function that does not fit this file's value
            continue
        node = out
        *parents, leaf = dst.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _get(tree: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key, tree.get(key.replace(" ", "_")))
        if tree is None:
            return None
    return tree


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else out.get(k, v)
    return out


def _first(tree: dict, *paths: str) -> Any:
    for p in paths:
        v = _get(tree, p.split("."))
        if v not in (None, "", [], {}):
            return v
    return None


def _number(v: Any) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _text(v: Any) -> Optional[str]:
    if v is None or (isinstance(v, (str, list, tuple, dict)) and not v):
        return None
    if isinstance(v, (bytes, bytearray)):
        v = v.decode("utf-8", "replace")
    s = " ".join(str(v).split())
    return s[:200] if s else None


def signal_metadata(signal: dict, sig_axes: list[dict]) -> dict[str, Any]:
    """The facts the curation keeps about one signal, from its metadata and original metadata."""
    md = _merge(signal.get("metadata") or {}, apply_mapping(signal.get("original_metadata") or {},
                                                            signal.get("mapping")))
    om = signal.get("original_metadata") or {}
    x = sig_axes[-1] if sig_axes else {}
    tem = _first(md, "Acquisition_instrument.TEM", "Acquisition_instrument.SEM") or {}
    date = _text(_first(md, "General.date"))
    time = _text(_first(md, "General.time"))
    detector = _text(_first(tem, "Detector.name", "detector") if isinstance(tem, dict) else None) or _text(
        _first(om, "BinaryResult.Detector", "ObjectInfo.ExperimentalDescription.Detector",
               "ImageList.TagGroup0.ImageTags.Acquisition.Device.Name", "DetectorMetadata.DetectorName"))
    counts = _first(om, "ImageList.TagGroup0.ImageData.Calibrations.Brightness")
    return {
        "pixel_size": _number(x.get("scale")),
        "pixel_unit": _text(x.get("units")),
        "voltage_kv": _number(_first(tem, "beam_energy") if isinstance(tem, dict) else None),
        "magnification": _number(_first(tem, "magnification") if isinstance(tem, dict) else None),
        "detector": detector,
        "date": " ".join(p for p in (date, time) if p) or None,
        "operator": _text(_first(md, "General.authors")) or _text(
            _first(om, "ImageList.TagGroup0.ImageTags.Session Info.Operator", "Session.Operator")),
        "session": _text(_first(md, "General.session")),
        "specimen": _text(_first(md, "Sample.description")) or _text(
            _first(om, "ImageList.TagGroup0.ImageTags.Session Info.Specimen")),
        "title": _text(_first(md, "General.title")),
        "intensity_scale": _number(counts.get("Scale")) if isinstance(counts, dict) else None,
        "intensity_offset": _number(counts.get("Origin")) if isinstance(counts, dict) else None,
        "intensity_unit": _text(counts.get("Units")) if isinstance(counts, dict) else None,
    }
