"""Run a submitted ONNX model on a task's fixed inputs in a separate, limited process.

The model contract: one ONNX input per task input, named as the task names them (``noisy``;
``samples`` and ``mask``; ``low_res``; ``amplitude``), each with a leading batch axis, and one
output holding the predictions, ``[batch, *task.prediction_shape()]``. ``wemd export-model
--onnx`` writes the reference networks this way.

The child process limits its own address space (``RLIMIT_AS``) and CPU time before it reads the
model, refuses tensors stored outside the model file, runs onnxruntime's CPU provider only, and
streams predictions into a ``.npy``; the parent kills the whole process group at the wall-clock
limit. Whatever the model does, only the child dies, and the reason comes back as one line.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from wemd.errors import WEMDError

#: Instances per onnxruntime call when the model's batch axis is dynamic.
BATCH = 8


class ModelRunError(WEMDError):
    """A submitted model that could not be run to the end; the message is the reason."""


def run_model(model: Path, inputs: Path, out: Path, *, timeout: float, memory: int) -> Path:
    """Run ``model`` on the ``inputs`` archive (``write_inputs``) into ``out`` (.npy)."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory(prefix="wemd-model-") as cwd, \
            tempfile.TemporaryFile() as err:
        cmd = [sys.executable, "-m", "wemd.leaderboard.server.sandbox", str(model), str(inputs),
               str(out), str(memory), str(int(timeout) + 5)]
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ModelRunError(f"The model ran longer than this board's limit of {timeout:g} s "
                                "on the task's instances; make it faster or submit predictions.")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        err.seek(max(0, err.seek(0, os.SEEK_END) - 4000))  # onnxruntime may log a line per node
        tail = err.read().decode("utf-8", "replace").strip().splitlines()
    if rc == 0 and out.is_file():
        return out
    last = tail[-1] if tail else ""
    if rc in (-signal.SIGKILL, -signal.SIGXCPU) or "memory" in last.lower() or "bad_alloc" in last:
        raise ModelRunError(f"The model exceeded this board's limits ({memory >> 20} MiB of memory, "
                            f"{timeout:g} s): {last or f'killed by signal {-rc}'}")
    raise ModelRunError(f"The model could not be run: {last or f'exit status {rc}'}")


def _limit(memory: int, cpu_s: int) -> None:
    """Bounds on this process, set before the model is read; on Linux it also dies with the
    worker that started it (a killed worker leaves no model running)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the worker died before the line above
        sys.exit(4)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _load(model: Path) -> bytes:
    """The model's bytes after refusing weights stored in other files (they could name any path
    on the server)."""
    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    graphs = [proto.graph]
    while graphs:
        g = graphs.pop()
        for t in list(g.initializer) + [a.t for n in g.node for a in n.attribute if a.HasField("t")]:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                raise ValueError(f"tensor {t.name[:80]!r} is stored outside the model file; save "
                                 "the model with all weights inside it (onnx.save, no external data)")
        graphs += [a.g for n in g.node for a in n.attribute if a.HasField("g")]
        graphs += [sg for n in g.node for a in n.attribute for sg in a.graphs]
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _run(model: Path, inputs: Path, out: Path) -> None:
    import zipfile

    import onnxruntime as ort

    from wemd.files import atomic_path
    from wemd.leaderboard.evaluator import npz_member

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(_load(model), opts, providers=["CPUExecutionProvider"])
    with zipfile.ZipFile(inputs) as zf:
        given = sorted(n.removesuffix(".npy") for n in zf.namelist() if n != "instance_ids.npy")
    wanted = sess.get_inputs()
    names = sorted(i.name for i in wanted)
    if names != given:
        raise ValueError(f"the model takes inputs {names[:8]} but the task gives {given}; name the "
                         "model's inputs as the task's (`wemd task show NAME`)")
    arrays = {n: npz_member(inputs, n) for n in given}
    count = len(next(iter(arrays.values())))
    dim = wanted[0].shape[0] if wanted[0].shape else None
    batch = dim if isinstance(dim, int) and dim > 0 else BATCH
    types = {i.name: np.bool_ if i.type == "tensor(bool)" else np.float32 for i in wanted}
    result = None
    with atomic_path(out) as tmp:
        for start in range(0, count, batch):
            stop = min(count, start + batch)
            feed = {n: np.ascontiguousarray(a[start:stop], dtype=types[n]) for n, a in arrays.items()}
            if stop - start < batch and isinstance(dim, int):  # a fixed batch: pad the last one
                feed = {n: np.concatenate([v, np.repeat(v[-1:], batch - len(v), 0)]) for n, v in feed.items()}
            pred = np.asarray(sess.run(None, feed)[0])[: stop - start]
            if result is None:
                result = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                   shape=(count,) + pred.shape[1:])
            if pred.shape[1:] != result.shape[1:] or len(pred) != stop - start:
                raise ValueError(f"the model's output has shape {pred.shape} for a batch of "
                                 f"{stop - start}; expected ({stop - start}, *{result.shape[1:]})")
            result[start:stop] = pred
        result.flush()
        del result


def main(argv: Sequence[str]) -> int:
    model, inputs, out, memory, cpu_s = argv
    _limit(int(memory), int(cpu_s))
    try:
        _run(Path(model), Path(inputs), Path(out))
    except MemoryError:
        print("the model ran out of memory", file=sys.stderr)
        return 3
    except Exception as exc:  # the model's own failure, reported as the reason
        print(f"{type(exc).__name__}: {str(exc)[:600]}".replace("\n", " "), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
