"""The WEMD curation steps as public functions (thesis ch. 2; WEMD paper section 2-4).

The published sets were made in MATLAB and Python by these steps; the synthetic stand-in runs
the same functions on simulated micrographs so its derived variants relate to its full images
exactly as the real ones do:

* TEM full images: :func:`crop_to_largest_square` -> :func:`area_resize` to 2048x2048 ->
  keep only :func:`meets_dose` (>= 2500 counts/px) -> :func:`minmax_scale` to [0, 1].
* STEM crops: :func:`non_overlapping_crops` of 512x512 from every full image (larger images give
  more crops).
* 96x96 variants, as the authors' scripts (``create_96x96/`` of their public ``datasets``
  repository) made them: :func:`downsample_96` (the largest square from the top-left corner,
  MATLAB ``imresize(..., [96 96], 'method', 'box')``: :func:`imresize_box`) and :func:`crop_96`
  (the top-left 96x96 region; an image smaller than that gives a row of zeros). The paper
  describes area downsampling of the whole image and "a crop"; where the two differ wemd follows
  the scripts, and the data cards say so.
* Partitions: :func:`split_counts` (published proportions) and
  :func:`partition_by_contributor` (contiguous ranges that never split a contributor).

Area resizing: where the scale factor is an integer on both axes :func:`area_resize` averages
blocks with ``skimage.transform.downscale_local_mean`` (exactly MATLAB's ``imresize`` with the
``box`` kernel, i.e. area averaging). Elsewhere it uses ``skimage.transform.resize`` with
``anti_aliasing=True`` and bilinear interpolation: a Gaussian prefilter approximating MATLAB's
default antialiasing, not bit-identical to it.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

#: Minimum mean electron counts per pixel for a TEM image to be kept (denoiser training data).
MIN_COUNTS_PER_PIXEL = 2500.0
TEM_SIZE = 2048
CROP_SIZE = 512
SMALL_SIZE = 96


def _as_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D image, got an array of shape {arr.shape}")
    return arr


def crop_to_largest_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of an image (a view; odd remainders drop from the far side)."""
    arr = _as_image(image)
    h, w = arr.shape
    n = min(h, w)
    top, left = (h - n) // 2, (w - n) // 2
    return arr[top:top + n, left:left + n]


def area_resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D image to ``shape`` preserving mean intensity, as float32.

    Integer shrink factors: exact block (area) averaging. Other shrink factors: bilinear with
    scikit-image's Gaussian antialiasing. Enlargement: bilinear, no antialiasing.
    """
    from skimage.transform import downscale_local_mean, resize

    arr = _as_image(image).astype(np.float32, copy=False)
    out_h, out_w = int(shape[0]), int(shape[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(f"target shape must be positive, got {shape}")
    h, w = arr.shape
    if (h, w) == (out_h, out_w):
        return arr.copy()
    if h % out_h == 0 and w % out_w == 0:
        return downscale_local_mean(arr, (h // out_h, w // out_w)).astype(np.float32)
    shrinking = out_h < h or out_w < w
    out = resize(arr, (out_h, out_w), order=1, mode="reflect", anti_aliasing=shrinking,
                 preserve_range=True)
    return out.astype(np.float32)


def crop_top_left_square(image: np.ndarray) -> np.ndarray:
    """The largest square from the top-left corner (a view), as the authors' 96x96 scripts cut
    it (``img(1:side, 1:side)`` in MATLAB)."""
    arr = _as_image(image)
    n = min(arr.shape)
    return arr[:n, :n]


def _box_weights(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of MATLAB ``imresize`` with the ``box`` kernel along one axis.

    MATLAB's ``contributions``: output pixel x (1-based) sits at input coordinate
    u = x / s + (1 - 1 / s) / 2 for scale s = n_out / n_in; when shrinking, the box is widened
    to 1 / s (antialiasing); input pixels j with -w/2 <= u - j < w/2 get equal weight, indices
    past the edges mirror back (symmetric padding), and each row is normalised to sum 1.
    """
    s = n_out / n_in
    width = 1.0 / s if s < 1 else 1.0
    u = np.arange(1, n_out + 1) / s + 0.5 * (1 - 1 / s)
    left = np.floor(u - width / 2)
    idx = left[:, None] + np.arange(int(np.ceil(width)) + 2)[None, :]
    scaled = (u[:, None] - idx) * min(s, 1.0)
    w = ((-0.5 <= scaled) & (scaled < 0.5)).astype(np.float64)
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in - 1, -1, -1)])
    cols = mirror[(idx.astype(np.int64) - 1) % (2 * n_in)]
    out = np.zeros((n_out, n_in))
    np.add.at(out, (np.repeat(np.arange(n_out), idx.shape[1]), cols.ravel()), w.ravel())
    return out


def imresize_box(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """MATLAB ``imresize(image, shape, 'method', 'box')`` (with its default antialiasing) as
    float32: separable box weights per axis (:func:`_box_weights`), computed in float64.

    Integer shrink factors give exact block means; other factors weight every input pixel whose
    centre falls inside an output pixel's widened box equally.
    """
    arr = _as_image(image).astype(np.float64)
    out_h, out_w = int(shape[0]), int(shape[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(f"target shape must be positive, got {shape}")
    rows, cols = _box_weights(arr.shape[0], out_h), _box_weights(arr.shape[1], out_w)
    return (rows @ arr @ cols.T).astype(np.float32)


def mean_counts(image: np.ndarray) -> float:
    """Mean detector counts per pixel (the dose measure of the TEM curation)."""
    return float(np.mean(_as_image(image), dtype=np.float64))


def meets_dose(image: np.ndarray, min_counts: float = MIN_COUNTS_PER_PIXEL) -> bool:
    """True when an image holds at least ``min_counts`` electron counts per pixel on average."""
    return mean_counts(image) >= min_counts


def minmax_scale(image: np.ndarray) -> np.ndarray:
    """Linearly map an image to [0, 1] as float32; a constant image becomes all zeros."""
    arr = np.asarray(image, dtype=np.float64)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ValueError("image has non-finite values; replace them before min-max scaling")
    if hi - lo <= 0:
        return np.zeros(arr.shape, np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


def curate_tem(raw: np.ndarray, size: int = TEM_SIZE,
               min_counts: float = MIN_COUNTS_PER_PIXEL) -> Optional[np.ndarray]:
    """The TEM full-image chain: largest square, area resize, dose filter, min-max scale.

    Returns None when the image has fewer than ``min_counts`` counts/px and is discarded.
    """
    resized = area_resize(crop_to_largest_square(raw), (size, size))
    if not meets_dose(resized, min_counts):
        return None
    return minmax_scale(resized)


def non_overlapping_crops(image: np.ndarray, size: int = CROP_SIZE) -> list[np.ndarray]:
    """Every whole ``size`` x ``size`` tile of an image in row-major order, from the top-left.

    Remainders at the right and bottom edges are dropped; an image smaller than ``size`` on
    either axis gives no crops.
    """
    arr = _as_image(image)
    rows, cols = arr.shape[0] // size, arr.shape[1] // size
    return [np.ascontiguousarray(arr[r * size:(r + 1) * size, c * size:(c + 1) * size])
            for r in range(rows) for c in range(cols)]


def downsample_96(image: np.ndarray, size: int = SMALL_SIZE) -> np.ndarray:
    """An image as the authors' ``small_stem_images.m`` / ``small_tem_images.m`` shrank it:
    the largest square from the top-left corner, box-resized (:func:`imresize_box`) to
    ``size`` x ``size`` x 1."""
    return imresize_box(crop_top_left_square(image), (size, size))[..., None]


def crop_96(image: np.ndarray, size: int = SMALL_SIZE) -> np.ndarray:
    """The top-left ``size`` x ``size`` x 1 region, as the authors' ``create_96x96_stem_crops.py``
    cut it. An image smaller than ``size`` on either side gives all zeros: the script's
    assignment of the short region fails and is skipped, leaving the row it allocated as zeros."""
    arr = _as_image(image)
    out = np.zeros((size, size, 1), np.float32)
    if min(arr.shape) >= size:
        out[..., 0] = arr[:size, :size]
    return out


def split_counts(total: int, proportions: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` items in the proportions of ``proportions`` (e.g. a catalog entry's split
    counts), largest remainders first, each split getting at least one item when possible."""
    names = list(proportions)
    weights = np.array([proportions[n] for n in names], dtype=np.float64)
    if total < 0 or weights.sum() <= 0:
        raise ValueError(f"cannot split {total} items in proportions {dict(proportions)}")
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    if total >= len(names):  # give empty splits one item from the largest
        for i in np.flatnonzero(counts == 0):
            counts[int(np.argmax(counts))] -= 1
            counts[i] = 1
    return dict(zip(names, counts.tolist()))


def partition_by_contributor(contributors: Sequence[str],
                             proportions: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """Contiguous [start, stop) per split over items concatenated contributor by contributor.

    Cut points fall only where the contributor changes, as close as possible to the target
    proportions, so no contributor appears in two splits. Raises if the items are not grouped
    (a contributor in two separate runs) or there are too few contributors for the splits.
    """
    contributors = list(contributors)
    names = list(proportions)
    runs = [0] + [i for i in range(1, len(contributors)) if contributors[i] != contributors[i - 1]]
    seen = [contributors[i] for i in runs]
    if len(set(seen)) != len(seen):
        raise ValueError("items are not grouped by contributor: concatenate each contributor's "
                         "items together before partitioning")
    if len(seen) < len(names):
        raise ValueError(f"{len(seen)} contributors cannot fill {len(names)} splits "
                         f"({', '.join(names)}) without sharing one")
    n = len(contributors)
    weights = np.array([proportions[s] for s in names], dtype=np.float64)
    targets = np.cumsum(weights)[:-1] / weights.sum() * n
    boundaries = runs[1:] + [n]
    cuts: list[int] = []
    for k, target in enumerate(targets):
        lo = cuts[-1] if cuts else 0
        left_for_later = len(names) - 1 - k  # each later split needs its own contributor
        allowed = [b for b in boundaries if b > lo and
                   sum(1 for r in runs if r >= b) >= left_for_later]
        cuts.append(min(allowed, key=lambda b: (abs(b - target), b)))
    edges = [0] + cuts + [n]
    return {s: (edges[i], edges[i + 1]) for i, s in enumerate(names)}
