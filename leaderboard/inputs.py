"""Write a task's fixed test inputs to an ``.npz`` without holding them in memory.

Each input (``noisy``, ``samples`` + ``mask``, ``low_res``, ``amplitude``) is streamed into a
memory-mapped ``.npy`` in a temporary folder, then the arrays and ``instance_ids`` are stored
(uncompressed, zip64) into the archive, which appears atomically. ``np.load`` reads it back.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

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
