"""Per-item statistics and quality flags of a split, mapped with dask.distributed
(``wemd.stats(...)``, ``wemd stats``).

Every item gets its mean, std, min and max (float64, over its finite values), ``finite`` (no NaN
or infinity) and three flags for the images the STEM set deliberately keeps (WEMD paper: about
50 blank images, incomplete scans, images of noise only), so users can find or drop them:

``blank``
    no contrast at all: max - min <= 1e-6 x max(1, |max|, |min|) over the (scanned) image.
``incomplete``
    the scan stopped early: the bottom rows hold one constant value (a frame filled with zeros
    past the last scanned line), at least 2 rows and 1 % of the height, above a scanned part
    that is not itself blank. ``scanned_rows`` says where the scan stopped.
``noise_only``
    variation without spatial structure: the sample autocorrelation at a lag of one pixel (mean
    of rows and columns, over the scanned part) is below 0.15. Anything an instrument images at
    several pixels per feature (atom columns, particles, lattice fringes) correlates far above
    that; white detector noise sits at 0 +- 1/side. A "blank" frame that still shows detector
    read noise is therefore flagged noise-only, not blank.

Flags look at one 2-D plane of an item: the image itself, its first channel ([..., 0] of
96x96 sets and the real part of 96x96 waves), the amplitude of a complex wave, or the first frame
of a focal series. Dataset-level normalisation constants (pooled mean and std, min, max) come from
the per-item moments, for all items and for those no flag marks.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from wemd.errors import WEMDError, require
from wemd.home import PathLike

NOISE_CORRELATION = 0.15
BLANK_RTOL = 1e-6
MIN_TRAILING_ROWS = 2
MIN_TRAILING_FRACTION = 0.01
FLAGS = ("blank", "noise_only", "incomplete")


def _plane(item: np.ndarray) -> np.ndarray:
    a = np.asarray(item)
    if np.iscomplexobj(a):
        a = np.abs(a)
    if a.ndim == 3 and a.shape[-1] <= 4:
        a = a[..., 0]
    while a.ndim > 2:
        a = a[0]
    return a.astype(np.float64, copy=False)


def _is_constant(a: np.ndarray) -> bool:
    if not a.size:
        return True
    lo, hi = float(np.min(a)), float(np.max(a))
    return hi - lo <= BLANK_RTOL * max(1.0, abs(lo), abs(hi))


def scanned_rows(plane: np.ndarray) -> int:
    """Rows before a constant block at the bottom of the frame (all rows if there is none)."""
    h = plane.shape[0]
    if h == 0:
        return 0
    last = plane[-1, 0]
    same = np.all(plane == last, axis=1)  # rows equal throughout to the last pixel's value
    trailing = h if same.all() else int(np.argmin(same[::-1]))
    return h - trailing


def neighbour_correlation(plane: np.ndarray) -> float:
    """Sample autocorrelation at a lag of one pixel, mean of along rows and along columns:
    sum p[k] p[k+1] / sum p^2 with p the plane minus its mean (0 for a constant plane)."""
    p = plane - plane.mean()
    dot = "ij,ij->"  # einsum: a plain loop, no temporary and no BLAS threads
    den = float(np.einsum(dot, p, p))
    if den <= 0 or min(p.shape) < 2:
        return 0.0
    rows = float(np.einsum(dot, p[:, :-1], p[:, 1:]))
    cols = float(np.einsum(dot, p[:-1], p[1:]))
    return (rows + cols) / (2 * den)


def item_stats(item: np.ndarray) -> dict[str, Any]:
    """Moments, finiteness and quality flags of one item (see the module docstring)."""
    a = np.asarray(item)
    values = np.abs(a) if np.iscomplexobj(a) else a
    n_bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    ok = values[np.isfinite(values)] if n_bad else values.ravel()
    plane = _plane(a)
    plane = np.where(np.isfinite(plane), plane, 0.0) if n_bad else plane
    rows = scanned_rows(plane)
    h = plane.shape[0]
    trailing = h - rows
    incomplete = (trailing >= max(MIN_TRAILING_ROWS, MIN_TRAILING_FRACTION * h) and rows > 0
                  and not _is_constant(plane[:rows]))
    part = plane[:rows] if incomplete else plane
    blank = _is_constant(part)
    corr = 0.0 if blank else neighbour_correlation(part)
    mean = float(ok.mean(dtype=np.float64)) if ok.size else np.nan
    return {"n": int(ok.size), "mean": mean,
            "std": float(np.sqrt(np.mean(np.square(ok - mean, dtype=np.float64)))) if ok.size
            else np.nan,
            "min": float(ok.min()) if ok.size else np.nan,
            "max": float(ok.max()) if ok.size else np.nan,
            "finite": n_bad == 0, "nonfinite": n_bad, "neighbour_corr": corr,
            "scanned_rows": rows, "blank": blank,
            "noise_only": (not blank) and corr < NOISE_CORRELATION, "incomplete": incomplete}


def _batch(ds: Any, a: int, b: int) -> list[dict[str, Any]]:
    """Statistics of items [a, b) of ``ds`` (run in a worker)."""
    rows = []
    for i in range(a, b):
        rows.append({"position": i, "id": ds.item_id(i), **item_stats(ds[i])})
    return rows


def normalisation(df: Any) -> dict[str, dict[str, float]]:
    """Pooled mean, std, min and max over all items, and over the items no flag marks."""
    out = {}
    clean = ~(df["blank"] | df["noise_only"] | df["incomplete"])
    for label, part in (("all", df), ("unflagged", df[clean])):
        n = part["n"].to_numpy(np.float64)
        total = n.sum()
        if total == 0:
            out[label] = {"items": 0}
            continue
        mean = float((n * part["mean"].to_numpy(np.float64)).sum() / total)
        second = float((n * (part["std"].to_numpy(np.float64) ** 2
                             + part["mean"].to_numpy(np.float64) ** 2)).sum() / total)
        out[label] = {"items": int(len(part)), "mean": mean, "std": float(np.sqrt(max(0.0, second - mean ** 2))),
                      "min": float(part["min"].min()), "max": float(part["max"].max())}
    return out


def stats(name: str, split: str = "train", *, root: Optional[PathLike] = None,
          source: str = "local", scheduler: Optional[str] = "local", workers: int = 2,
          batch: Optional[int] = None, progress: bool = False, **load_kwargs: Any) -> Any:
    """Per-item statistics of one split as a pandas DataFrame (``df.attrs["normalisation"]``
    holds the dataset-level constants).

    ``scheduler``: ``"local"`` (a LocalCluster of ``workers`` processes, shut down after),
    ``"tcp://HOST:PORT"`` (an existing dask.distributed scheduler) or ``None`` (a plain loop in
    this process). Items are read in batches (``batch``, default the dataset's dask chunk) by the
    workers themselves, through the same reader as ``wemd.load``.
    """
    import wemd

    pd = require("pandas", "arrays")
    if batch is not None and not batch >= 1:  # a negative step read no item: an empty table
        raise WEMDError(f"batch must be 1 or more items, not {batch!r}.")
    if scheduler == "local" and not workers >= 1:  # dask waited, then "No valid workers found"
        raise WEMDError(f"--workers must be 1 or more, not {workers!r}; or pass --scheduler none "
                        "to compute in this process.")
    ds = wemd.load(name, split, root=root, source=source, **load_kwargs)
    if ds.spec.dtype == "str":
        raise WEMDError(f"{name} holds text (CIFs): it has no pixel statistics.")
    step = int(batch or max(1, min(ds.batch_size(), 256)))
    ranges = [(a, min(a + step, len(ds))) for a in range(0, len(ds), step)]
    if scheduler is None:
        parts = [_batch(ds, a, b) for a, b in ranges]
    else:
        parts = _distributed(ds, ranges, scheduler, workers, progress)
    df = pd.DataFrame([r for part in parts for r in part])
    if df.empty:
        df = pd.DataFrame({c: pd.Series(dtype=float) for c in ("position", "id", "n", "mean")})
    df.insert(1, "split", ds.split)
    df = df.astype({"id": "string", "split": "category"})
    df.attrs["normalisation"] = normalisation(df) if len(df) else {}
    df.attrs.update(dataset=name, provenance=ds.provenance)
    return df


def _distributed(ds: Any, ranges: list[tuple[int, int]], scheduler: str, workers: int,
                 progress: bool) -> list[list[dict]]:
    distributed = require("distributed", "arrays")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

    if scheduler == "local":
        try:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        except RuntimeError as exc:  # "Nanny failed to start": a worker process died starting
            raise WEMDError(
                f"The local Dask cluster's {workers} worker processes did not start ({exc}). "
                "Each worker starts by importing your script again: in a script, call "
                "wemd.stats under `if __name__ == \"__main__\":`; or pass scheduler=None "
                "(--scheduler none) to compute in this process.") from exc
        with cluster, Client(cluster) as client:
            return _map(client, ds, ranges, progress)
    if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise WEMDError(f"scheduler {scheduler!r}: give 'local' (a LocalCluster), None (this "
                        "process) or a dask.distributed address such as tcp://HOST:8786.")
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise WEMDError(f"No dask scheduler answers at {scheduler} ({exc}); start one "
                        "(`dask scheduler`) or leave --scheduler out for a local cluster.") from exc
    with client:
        return _map(client, ds, ranges, progress)


def _map(client: Any, ds: Any, ranges: list[tuple[int, int]], progress: bool) -> list[list[dict]]:
    from distributed import as_completed
    from tqdm.auto import tqdm

    shared = client.scatter(ds, broadcast=True)
    futures = client.map(_batch, [shared] * len(ranges), [a for a, _ in ranges],
                         [b for _, b in ranges], pure=False)
    with tqdm(total=len(futures), disable=not progress, desc=f"stats {ds.name}/{ds.split}") as bar:
        for _ in as_completed(futures):
            bar.update(1)
    return client.gather(futures)


def write_parquet(df: Any, out: PathLike) -> Any:
    """Write a statistics table to Parquet atomically (the constants travel in its metadata)."""
    from wemd.files import atomic_path

    with atomic_path(out) as tmp:
        df.to_parquet(tmp, index=False)
    return out
