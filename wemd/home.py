"""Where datasets live: ``WEMD_HOME`` (default: the per-user cache dir) or ``root=`` per call."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from wemd.manifest import MANIFEST_NAME, read_manifest

PathLike = Union[str, "os.PathLike[str]"]


def data_home(root: Optional[PathLike] = None) -> Path:
    """The data home: ``root`` if given, else ``$WEMD_HOME``, else the user cache dir."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("WEMD_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("wemd"))


def dataset_dir(name: str, root: Optional[PathLike] = None) -> Path:
    """The folder of one dataset.

    ``root`` is a data home holding ``{name}/`` folders, or the dataset folder itself when its
    ``wemd.json`` manifest names that dataset (so ``--out OUT`` of a generator loads as ``root=OUT``).
    """
    home = data_home(root)
    if root is not None and (home / MANIFEST_NAME).is_file():
        manifest = read_manifest(home)
        if manifest is not None and manifest.dataset == name:
            return home
    return home / name
