"""ONNX model submissions (issue 13): ``wemd export-model --onnx`` writes a reference network
that a real board server re-runs in a limited process on its own fixed inputs; hostile models
(never ending, allocating without bound, weights outside the file, not ONNX, wrong inputs) fail
with a reason and the server stays up."""

import os
import signal
import time
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from tests.server_fixtures import N, PARAMS, TASK, Server, board_home, worker_pids  # noqa: F401
from wemd.cli import main
from wemd.leaderboard import Client
from wemd.leaderboard.server.scoring import MODEL_RERUN

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript (wemd[server])")
pytestmark = pytest.mark.slow

SIDE = PARAMS["crop"]
IMAGE = ["b", SIDE, SIDE]


@pytest.fixture(scope="module")
def server(board_home, tmp_path_factory):
    base = tmp_path_factory.mktemp("model-board")
    srv = Server(f"sqlite:///{base / 'board.sqlite'}", base / "data", board_home[0],
                 "--model-timeout", "8", "--model-memory-mb", "768").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny `wemd train` run (3 seeds, 2 steps) of the denoiser on its own fake data."""
    from tests.test_leaderboard_data import make_structured
    from wemd.baselines import training

    torch.set_num_threads(1)
    home = tmp_path_factory.mktemp("train-home")
    make_structured("tem_full", home, {"train": 2, "val": 1, "test": 3})
    cfg = training.TrainConfig(task=TASK, steps=2, batch_size=1, width=4, train_crop=None,
                               overrides=tuple(PARAMS.items()), n=N, root=str(home))
    out = tmp_path_factory.mktemp("run")
    training.train(cfg, out, progress=False)
    return out, home


def test_exported_reference_network_is_rerun_on_the_server(server, run_dir, board_home, tmp_path,
                                                           capsys):
    from wemd.baselines.training import build_from_checkpoint, score
    from wemd.leaderboard import get_task

    run, home = run_dir
    assert main(["export-model", str(run), "den", "--onnx", "--out", str(tmp_path),
                 "--root", str(home)]) == 0
    assert "onnxruntime matches torch" in capsys.readouterr().out
    with Client(server.url, token=server.token("modeller")) as c:
        final = c.wait(c.submit(TASK, model=tmp_path / "den.onnx", method="atrous (onnx)", n=N,
                                params=PARAMS)["id"], timeout=120)
        assert final["status"] == "done", final
        [entry] = [e for e in c.entries(TASK) if e["entry_id"] == final["entry_id"]]
    assert entry["verification"] == MODEL_RERUN
    assert not list(server.data.rglob("inputs*/*.npz"))  # a non-standard input set is not kept
    net, _ = build_from_checkpoint(run / "seed0" / "model.pt")
    task = get_task(TASK, **PARAMS)
    local = score(net, task, task.open(root=board_home[0]), N, "local", progress=False)
    for m in task.metrics:  # the server's re-run scores as torch does on the same data
        assert entry["metrics"][m]["mean"] == pytest.approx(local.metrics[m]["mean"], rel=1e-4, abs=1e-6)


def graph_model(nodes, inputs=None, initializers=(), output="predictions"):
    inputs = inputs or [helper.make_tensor_value_info("noisy", TensorProto.FLOAT, IMAGE)]
    out = helper.make_tensor_value_info(output, TensorProto.FLOAT, IMAGE)
    graph = helper.make_graph(nodes, "hostile", inputs, [out], initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def endless():
    """A Loop with an int64-max trip count whose body adds zero to the image."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["x_in", "zero"], ["x_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", TensorProto.FLOAT, IMAGE)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, IMAGE)],
        initializer=[helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    return graph_model(
        [helper.make_node("Loop", ["M", "cond", "noisy"], ["predictions"], body=body)],
        initializers=[helper.make_tensor("M", TensorProto.INT64, [], [2 ** 62]),
                      helper.make_tensor("cond", TensorProto.BOOL, [], [True])])


def hog():
    """Allocates 2**36 floats (256 GiB) from a shape computed at run time."""
    return graph_model(
        [helper.make_node("Shape", ["noisy"], ["s"]),
         helper.make_node("Mul", ["s", "big"], ["huge"]),
         helper.make_node("ConstantOfShape", ["huge"], ["blob"],
                          value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
         helper.make_node("ReduceSum", ["blob"], ["total"], keepdims=0),
         helper.make_node("Add", ["noisy", "total"], ["predictions"])],
        initializers=[helper.make_tensor("big", TensorProto.INT64, [3], [1 << 20, 1 << 3, 1 << 3])])


def outside_weights():
    """An initializer whose data is 'stored' in a file on the server."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../../../../etc/passwd"), ("length", "4")):
        w.external_data.add(key=key, value=value)
    return graph_model([helper.make_node("Add", ["noisy", "w"], ["predictions"])], initializers=[w])


def wrong_inputs():
    return graph_model([helper.make_node("Identity", ["image"], ["predictions"])], inputs=[
        helper.make_tensor_value_info("image", TensorProto.FLOAT, IMAGE)])


def test_hostile_models_fail_with_a_reason_and_the_server_stays_up(server, tmp_path):
    models = {"longer than": endless(), "limits": hog(), "outside the model file": outside_weights(),
              "the task gives ['noisy']": wrong_inputs()}
    paths = {}
    for k, (why, model) in enumerate(models.items()):
        paths[why] = tmp_path / f"m{k}.onnx"
        onnx.save(model, paths[why])
    paths["could not be run"] = tmp_path / "junk.onnx"
    paths["could not be run"].write_bytes(b"\x08\x07" + b"\xff" * 300)
    with Client(server.url, token=server.token("hostile-models")) as c:
        ids = {why: c.submit(TASK, model=path, method=f"bad {k}", n=N, params=PARAMS)["id"]
               for k, (why, path) in enumerate(paths.items())}
        for why, sid in ids.items():
            ans = c.wait(sid, timeout=120)
            assert ans["status"] == "failed" and why in ans["reason"], (why, ans)
        assert not [e for e in c.entries(TASK) if e["method"]["name"].startswith("bad ")]
        assert c.tasks()["tasks"]  # still serving


def submit_endless(client, path, method):
    """Submit the endless model as ``path``; return its id once a worker is scoring it."""
    onnx.save(endless(), path)
    sid = client.submit(TASK, model=path, method=method, n=N, params=PARAMS)["id"]
    deadline = time.monotonic() + 60
    while client.status(sid)["status"] != "scoring":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return sid


def test_a_killed_worker_is_replaced_and_its_job_scored_again(server, tmp_path):
    """kill -9 of the worker scoring a job: the server stays up, starts a new worker, and the
    job is claimed again (attempt 2) and ends with its own reason."""
    with Client(server.url, token=server.token("worker-killer")) as c:
        sid = submit_endless(c, tmp_path / "slow.onnx", "slow")
        [pid] = worker_pids(server.proc.pid)
        os.kill(pid, signal.SIGKILL)
        final = c.wait(sid, timeout=120)
        assert final["status"] == "failed" and "longer than" in final["reason"]
        assert final["attempts"] == 2
        assert [p for p in worker_pids(server.proc.pid) if p != pid]  # replaced
        assert c.tasks()["tasks"]
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline")  # its model did not outlive it
                if b"slow.onnx" in p.read_bytes()]


def test_the_worker_reads_only_the_tail_of_a_models_log(tmp_path):
    """A model whose 20000 unused weights make onnxruntime log a line each (~6 MB): the
    worker keeps only the log's last lines, not the whole log, in memory."""
    import tracemalloc

    import numpy as np

    from wemd.leaderboard.server.sandbox import run_model

    unused = [helper.make_tensor(f"unused_{'x' * 200}{i}", TensorProto.FLOAT, [1], [0.0])
              for i in range(20000)]
    onnx.save(graph_model([helper.make_node("Identity", ["noisy"], ["predictions"])],
                          initializers=unused), tmp_path / "chatty.onnx")
    np.savez(tmp_path / "inputs.npz", noisy=np.zeros((2, SIDE, SIDE), np.float32),
             instance_ids=np.array(["0:a", "1:b"]))
    tracemalloc.start()
    try:
        out = run_model(tmp_path / "chatty.onnx", tmp_path / "inputs.npz", tmp_path / "p.npy",
                        timeout=60, memory=1 << 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.load(out).shape == (2, SIDE, SIDE)
    assert peak < 1 << 20


def test_stopping_a_board_that_died_ends_its_busy_workers(board_home, tmp_path):
    """The server process dies alone while a worker runs a model: ``stop()`` still ends the
    worker and its model at once (it returned early, and they ran on until the model's
    time limit)."""
    srv = Server(f"sqlite:///{tmp_path / 'b.sqlite'}", tmp_path / "data", board_home[0],
                 "--model-timeout", "60").start()
    try:
        with Client(srv.url, token=srv.token("orphans")) as c:
            submit_endless(c, tmp_path / "orphan.onnx", "o")
        [pid] = worker_pids(srv.proc.pid)
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=30)
    finally:
        srv.stop()
    time.sleep(0.5)
    assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if b"orphan.onnx" in p.read_bytes()]
