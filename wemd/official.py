"""Official sources of every dataset: landing page and DOI from the catalog, nothing invented.

The papers name a landing page and a data DOI, but the exact file names, URLs and checksums
behind them have not been verified by anyone working on this package. So the registry lists no
file URLs and no hashes: ``wemd download`` without ``--mirror`` explains how to fetch the files
by hand and where to put them. When someone verifies a URL and its sha256 against the published
files, it goes into ``VERIFIED_FILES`` (and only then); the manual instructions then list it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from wemd import catalog
from wemd.home import PathLike, dataset_dir

#: dataset name -> {URL: "sha256:<hex>"} checked against the published files. Empty on purpose.
VERIFIED_FILES: dict[str, dict[str, str]] = {}
#: Space-separated mirror base URLs used when ``wemd download`` gets no ``--mirror``.
MIRRORS_ENV = "WEMD_MIRRORS"


@dataclass(frozen=True)
class PublishedCopy:
    """Where the published copy of one dataset lives."""

    dataset: str
    landing_page: str
    doi: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        """True only when file URLs and hashes have been checked against the published data."""
        return bool(self.files)

    @property
    def doi_url(self) -> str:
        return f"https://doi.org/{self.doi}"


def published_copy(name: str) -> PublishedCopy:
    """The official source of ``name`` (UnknownDatasetError for an unknown name)."""
    spec = catalog.get(name)
    return PublishedCopy(spec.name, catalog.LANDING_PAGE, catalog.DATA_DOI,
                          dict(VERIFIED_FILES.get(spec.name, {})))


def default_mirrors() -> list[str]:
    """Mirror base URLs from ``$WEMD_MIRRORS`` (none by default: no public mirror is verified)."""
    return os.environ.get(MIRRORS_ENV, "").split()


def manual_instructions(name: str, root: Optional[PathLike] = None) -> str:
    """How to get ``name`` by hand from the official source and where to put it."""
    spec = catalog.get(name)
    src = published_copy(name)
    target = dataset_dir(name, root)
    layouts = ", ".join(spec.layouts)
    size = f" ({spec.approx_size})" if spec.approx_size else ""
    if src.verified:
        head = [f"The published files of {name}{size}, checked against these sha256 sums:"]
        head += [f"  {url}  ({digest})" for url, digest in sorted(src.files.items())]
        head += ["Download them by hand:", f"  1. fetch the files above (landing page "
                 f"{src.landing_page}, data DOI {src.doi_url})"]
    else:
        head = [f"No verified download URL is registered for {name}{size}: the file names and "
                "checksums at the official source have not been checked, and wemd never guesses "
                "them.", "Download it by hand:", f"  1. open the landing page {src.landing_page}",
                f"     or the data DOI {src.doi_url}"]
    return "\n".join(head + [
        f"  2. put the files for {name} into {target}",
        f"     (accepted layouts: {layouts}; see `wemd info {name}`; `wemd path {name}` prints "
        "the folder; set WEMD_HOME or --root to use another data home)",
        f"  3. run `wemd verify {name}` to check counts, shapes and dtypes.",
        f"Or download from a wemd mirror: `wemd download {name} --mirror URL` (or set "
        f"{MIRRORS_ENV}).",
    ])
