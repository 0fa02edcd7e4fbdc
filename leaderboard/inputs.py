"""Write a task's fixed test inputs to an ``.npz`` without holding them in memory.

Each input (``noisy``, ``samples`` + ``mask``, ``low_res``, ``amplitude``) is streamed into a
memory-mapped ``.npy`` in a temporary folder, then the arrays and ``instance_ids`` are stored
(uncompressed, zip64) into the archive, which appears atomically. ``np.load`` reads it back.
The disk must hold both copies: that is checked after the first instance, before the rest
(the protocol's 20000 TEM instances are ~20 GB; ``n`` asks for fewer).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from wemd.errors import WEMDError
from wemd.files import atomic_path
from wemd.leaderboard.tasks import Task, get_task


def write_inputs(task: Union[str, Task], out: Union[str, Path], *, source: str = "local",
                 root: Any = None, n: Optional[int] = None, ds: Any = None,
                 progress: bool = True, **overrides: Any) -> Path:
    """Write the inputs of instances 0..n-1 and their ids to ``out`` (.npz); return its path."""
    from tqdm.auto import tqdm

    task = get_task(task, **overrides)
    ds = ds if ds is not None else task.open(source=source, root=root)
    count = task.n_instances(ds, n)
    out = Path(out)
    if out.suffix != ".npz":
        out = out.with_suffix(".npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wemd-inputs-", dir=out.parent) as tmp:
        arrays: dict[str, np.memmap] = {}
        for i, inst in enumerate(tqdm(task.instances(ds, count), total=count, unit="inst",
                                      desc=f"inputs {task.name}", disable=not progress)):
            if i == 0:
                _check_room(task.name, count, inst.input, out.parent)
            for name, value in inst.input.items():
                if name not in arrays:
                    arrays[name] = np.lib.format.open_memmap(
                        Path(tmp) / f"{name}.npy", mode="w+", dtype=value.dtype,
                        shape=(count,) + value.shape)
                arrays[name][i] = value
        for arr in arrays.values():
            arr.flush()
        names = list(arrays)
        arrays.clear()
        ids = np.array(task.instance_ids(ds, count))
        np.save(Path(tmp) / "instance_ids.npy", ids)
        with atomic_path(out) as part:
            with zipfile.ZipFile(part, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name in names + ["instance_ids"]:
                    zf.write(Path(tmp) / f"{name}.npy", arcname=f"{name}.npy")
    return out


def _check_room(task: str, count: int, first: dict[str, np.ndarray], folder: Path) -> None:
    """Refuse, before the work, an inputs file the disk cannot hold twice (temporary + archive)."""
    need = 2 * count * sum(v.nbytes for v in first.values())
    free = shutil.disk_usage(folder).free
    if need > free:
        raise WEMDError(f"{count} instances of {task} need about {need / 1e9:.1f} GB in {folder} "
                        f"(inputs and archive), and {free / 1e9:.1f} GB are free: pass --n N for "
                        "fewer instances (n=... in Python) or write elsewhere.")
