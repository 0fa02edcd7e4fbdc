"""The WEMD curation chain per kind of microscope, built from :mod:`wemd.curation`.

STEM (as ``stem_full`` and its variants): full images keep their original size and intensity;
non-overlapping ``crop`` x ``crop`` tiles; a whole-image 96x96 area downsample and one 96x96 crop.
TEM (as ``tem_full``): intensities converted to electron counts, the largest square area-resized
to ``size`` x ``size``, images under ``min_counts`` per pixel dropped, the rest min-max scaled;
plus a 96x96 area downsample. :class:`Rules` holds every parameter, and is recorded whole in the
manifests, with the sentences that say what was done.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from wemd import curation

KINDS = ("stem", "tem")
#: counts are taken from a file's intensity calibration only when its unit says they are counts
COUNT_UNITS = ("counts", "count", "e-", "e", "electrons", "electron")


@dataclass(frozen=True)
class Rules:
    """Every parameter of one curation run (part of each file's cache key and of the manifests)."""

    kind: str
    crop: int = curation.CROP_SIZE
    small: int = curation.SMALL_SIZE
    size: int = curation.TEM_SIZE
    min_counts: float = curation.MIN_COUNTS_PER_PIXEL
    counts_per_value: Optional[float] = None  # stated conversion; None: the file's, else 1
    stacks: str = "split"
    group_by: str = "folder"
    proportions: tuple[int, ...] = (75, 10, 15)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"proportions": list(self.proportions)}

    def describe(self) -> list[str]:
        """The rules in words, for the manifest and the data card."""
        if self.kind == "stem":
            chain = ["STEM images keep their original size and intensity (float32).",
                     f"Crops: every non-overlapping {self.crop}x{self.crop} tile from the top-left "
                     "corner; edge remainders dropped; smaller images give none.",
                     f"{self.small}x{self.small}: the whole image area-downsampled "
                     "(wemd.curation.downsample_96), and one crop of it (wemd.curation.crop_96)."]
        else:
            conv = (f"stored values x {self.counts_per_value} (stated conversion)"
                    if self.counts_per_value is not None else
                    "the file's intensity calibration where its unit is counts or electrons, "
                    "else the stored values taken as counts")
            chain = [f"TEM counts: {conv}.",
                     f"Largest centred square, area-resized to {self.size}x{self.size}; images with "
                     f"fewer than {self.min_counts:g} counts per pixel dropped; min-max scaled to "
                     "[0, 1] (wemd.curation.curate_tem).",
                     f"{self.small}x{self.small}: the full image area-downsampled."]
        stacks = ("image stacks are split into frames" if self.stacks == "split" else
                  "image stacks are refused")
        return chain + [f"Only 2-D images are taken; {stacks}; spectra, spectrum images and "
                        "4D-STEM are skipped with a reason.",
                        f"Partition: groups by {self.group_by}; groups that share an exact or "
                        "near-duplicate image are joined; whole groups are concatenated in hashed "
                        "order and cut into contiguous splits in proportions "
                        f"{':'.join(map(str, self.proportions))} (wemd.curation."
                        "partition_by_contributor)."]


def variants(kind: str) -> dict[str, str]:
    """Suffix of each dataset a kind makes -> what it holds (``""`` is the full images)."""
    if kind == "stem":
        return {"": "full", "_crops": "crops", "_96x96": "d96", "_crops_96x96": "c96"}
    return {"": "full", "_96x96": "d96"}


def cut(variant: str, full: np.ndarray, rules: Rules) -> Optional[np.ndarray]:
    """A variant that is a part of the full image (STEM crops, the 96x96 crop), cut when a
    dataset is written rather than cached: the cache holds each pixel once. None: no item."""
    if variant == "crops":
        crops = curation.non_overlapping_crops(full, rules.crop)
        return np.stack(crops) if crops else None
    if variant == "c96":
        return curation.crop_96(full, rules.small)
    return None


def to_counts(frame: np.ndarray, meta: dict[str, Any], rules: Rules) -> tuple[np.ndarray, str]:
    """A TEM frame in electron counts, and how they were obtained (for the metadata table)."""
    data = frame.astype(np.float64)
    if rules.counts_per_value is not None:
        return data * rules.counts_per_value, f"stated x{rules.counts_per_value:g}"
    unit = (meta.get("intensity_unit") or "").strip().lower()
    scale, offset = meta.get("intensity_scale"), meta.get("intensity_offset") or 0.0
    if unit in COUNT_UNITS and scale:
        return (data - offset) * scale, f"file calibration ({unit})"
    return data, "stored values"


def run_chain(frame: np.ndarray, meta: dict[str, Any], rules: Rules
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays one frame gives (the full image and its downsample; see :func:`cut` for the
    rest) and facts for its metadata row.

    An empty dict of arrays means the frame was dropped; ``facts["dropped"]`` says why.
    """
    facts: dict[str, Any] = {}
    if not np.all(np.isfinite(frame)):
        return {}, {"dropped": f"{int(np.size(frame) - np.isfinite(frame).sum())} non-finite pixels"}
    if rules.kind == "stem":
        full = np.asarray(frame, np.float32)
        crops = (full.shape[0] // rules.crop) * (full.shape[1] // rules.crop)
        return {"full": full, "d96": curation.downsample_96(full, rules.small)}, {"crops": crops}
    counts, how = to_counts(frame, meta, rules)
    square = curation.area_resize(curation.crop_to_largest_square(counts), (rules.size, rules.size))
    mean = curation.mean_counts(square)
    facts = {"mean_counts": mean, "counts_from": how}
    if not curation.meets_dose(square, rules.min_counts):
        return {}, facts | {"dropped": f"{mean:.4g} counts per pixel, under --min-counts "
                                       f"{rules.min_counts:g}"}
    full = curation.minmax_scale(square)
    return {"full": full, "d96": curation.downsample_96(full, rules.small)}, facts


def duplicate_keys(frame: np.ndarray, side: int = 16) -> tuple[str, Optional[str]]:
    """(exact, near) keys of a frame: the sha256 of its shape and pixel values (as float64, so
    the same pixels stored as uint16 and float32 match), and a 256-bit average hash of the means
    of its ``side`` x ``side`` cells (the same frame rescaled, converted to 8 bits or saved
    in another format matches). Constant frames get no near key: blank images are not the same
    picture."""
    data = np.asarray(frame, np.float64)
    digest = hashlib.sha256(repr(data.shape).encode())
    digest.update(np.ascontiguousarray(data).data)  # the buffer itself: no bytes copy
    exact = digest.hexdigest()
    if not np.all(np.isfinite(data)) or float(np.ptp(data)) == 0.0:
        return exact, None
    small = _cell_means(data, side) if min(data.shape) >= side else data
    bits = (small > np.median(small)).ravel()
    if bits.all() or not bits.any():
        return exact, None
    return exact, np.packbits(bits).tobytes().hex()


def _cell_means(data: np.ndarray, side: int) -> np.ndarray:
    """Means over a ``side`` x ``side`` grid of near-equal cells, in one pass over the pixels."""
    edges = [np.linspace(0, n, side + 1).astype(int) for n in data.shape]
    sums = np.add.reduceat(np.add.reduceat(data, edges[0][:-1], axis=0), edges[1][:-1], axis=1)
    return sums / np.outer(np.diff(edges[0]), np.diff(edges[1]))
