"""A trained reference network as an ONNX model a board server can re-run (``export-model --onnx``).

The model follows the board's contract (:mod:`wemd.leaderboard.server.sandbox`): one input per
task input, named as the task names them, with a leading batch axis; one output, the
predictions ``[batch, *task.prediction_shape()]``. The network is wrapped to take the task's
inputs as they are, traced with ``torch.export`` (batch axis dynamic, image size fixed by the
task) and converted by torch's ONNX exporter; ``torch.median``, which ONNX lacks, is decomposed
into a sort first. The export is checked: onnxruntime must reproduce the network's output on
the task's first instances.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

from wemd.errors import WEMDError, require
from wemd.files import atomic_path, safe_filename, sha256_file

PathLike = Union[str, "os.PathLike[str]"]
#: The largest difference between onnxruntime and torch outputs that passes the check.
TOLERANCE = 1e-3


def _median_dim(x: Any, dim: int, keepdim: bool = False) -> Any:
    """``torch.median(x, dim)`` (the lower median, and its index) through a sort."""
    torch = require("torch", "torch")
    k = (x.shape[dim] - 1) // 2
    s = torch.sort(x, dim=dim)
    v, i = s.values.narrow(dim, k, 1), s.indices.narrow(dim, k, 1)
    return (v, i) if keepdim else (v.squeeze(dim), i.squeeze(dim))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress lines and warnings (e.g. about torchvision ops) are not ours."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        level = logging.getLogger("torch").level
        logging.getLogger("torch").setLevel(logging.ERROR)
        try:
            yield
        finally:
            logging.getLogger("torch").setLevel(level)


def _wrap(net: Any, task: Any) -> Any:
    """``net`` as a module taking the task's inputs (batched) and giving its predictions."""
    torch = require("torch", "torch")
    from wemd.baselines.training import _forward

    class TaskNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.family = net, task.family
            self.out_hw = tuple(task.prediction_shape()[:2])

        def forward(self, *inputs: Any) -> Any:
            x = torch.stack([i.to(torch.float32) for i in inputs], dim=1)
            out = _forward(self.net, x, self.out_hw)
            return out.movedim(1, -1) if self.family == "phase" else out[:, 0]

    return TaskNetwork().eval()


def export_onnx(run_dir: PathLike, name: str, out_dir: PathLike, *, seed: Optional[int] = None,
                root: Any = None) -> dict[str, Any]:
    """Write one seed of a ``wemd train`` run as ``{out_dir}/{name}.onnx``; return what was
    written (path, sha256, task, inputs, the onnxruntime check). The task's data (the run's
    source, under ``root``) gives the example inputs."""
    torch = require("torch", "torch")
    ort = require("onnxruntime", "server")
    from wemd.baselines.pretrained import run_seed
    from wemd.baselines.training import build_from_checkpoint
    from wemd.leaderboard.tasks import get_task

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    safe_filename(f"{name}.onnx", "model name")
    record, seed = run_seed(run_dir, seed)
    net, _ = build_from_checkpoint(run_dir / f"seed{seed}" / "model.pt")
    task = get_task(record["task"], **record["data"]["params"])
    ds = task.open(source=record["data"]["source"], root=root)
    names = list(task.inputs)
    batch = [task.instance(ds, i).input for i in range(2)]  # 2: the batch axis stays dynamic
    example = tuple(torch.from_numpy(np.stack([b[n] for b in batch])) for n in names)
    model = _wrap(net, task)
    dims = tuple({0: torch.export.Dim("batch", min=1, max=4096)} for _ in names)
    with torch.no_grad(), _quiet():
        program = torch.export.export(model, example, dynamic_shapes=(dims,))
        program = program.run_decompositions({torch.ops.aten.median.dim: _median_dim})
        onnx_program = torch.onnx.export(program, input_names=names, output_names=["predictions"],
                                         dynamo=True, verbose=False)
        expected = model(*example).numpy()
    path = out_dir / f"{name}.onnx"
    with atomic_path(path) as tmp:
        onnx_program.save(str(tmp))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: e.numpy() for n, e in zip(names, example)})[0]
    diff = float(np.abs(got - expected).max())
    if got.shape != expected.shape or not diff <= TOLERANCE:
        path.unlink()
        raise WEMDError(f"onnxruntime does not reproduce the network (shape {got.shape} vs "
                        f"{expected.shape}, max difference {diff:.3g}); the export was removed.")
    return {"path": str(path), "sha256": sha256_file(path), "task": task.name,
            "params": task.params, "seed": seed, "inputs": names, "max_difference": diff,
            "provenance": record["data"]["provenance"]}
