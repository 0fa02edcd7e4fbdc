"""The board server under load, and a kill -9 mid-scoring (issue 13).

    python benchmarks/bench_leaderboard.py [--clients 16] [--files 200] [--n 4] [--crop 256]
                                           [--workers 2] [--kill-files 30]

On the tiny synthetic build of ``tem_full`` (built into a temporary data home), it writes
``--files`` distinct prediction files for ``tem_denoise_low_dose`` and then:

1. scores them all locally with ``wemd.leaderboard.evaluate`` (the core of ``wemd evaluate``,
   one process, the dataset opened once): the floor the server is compared with;
2. starts ``wemd leaderboard serve`` (SQLite, ``--workers``) on 127.0.0.1 and lets ``--clients``
   threads, each with its own token, upload and submit the files concurrently while the
   workers score. It prints how many were accepted, lost (accepted but never done) and
   duplicated (scored twice), p50/p95 of the accept path (upload + submit, as a client sees
   it), and the scoring throughput under that load;
3. the server's own scoring throughput: the same database is served again with one worker and
   no uploads after every job is put back in the queue (``--workers 0`` while submitting would
   do the same), and the files per second between the first job's start and the last one's end
   are compared with the local floor;
4. starts a fresh server, submits ``--kill-files`` files, kills the server's process group with
   SIGKILL while jobs are scoring, restarts it and waits: every submission must end done or
   failed with a reason.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import signal
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

TASK = "tem_denoise_low_dose"


def make_files(root: Path, out: Path, count: int, n: int, params: dict) -> list[Path]:
    """``count`` prediction files: the clean targets plus noise of a different seed each."""
    from wemd.leaderboard import get_task

    task = get_task(TASK, **params)
    ds = task.open(source="synthetic:tiny-0", root=root)
    targets = np.stack([inst.target for inst in task.instances(ds, n)])
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(count):
        rng = np.random.default_rng(k)
        preds = np.clip(targets + rng.normal(0, 0.02, targets.shape), 0, 1).astype(np.float32)
        files.append(out / f"p{k:04d}.npz")
        np.savez(files[-1], predictions=preds)
    return files


def local_floor(root: Path, files: list[Path], n: int, params: dict) -> float:
    """Files scored per second by the evaluator in this process (the dataset opened once)."""
    from wemd.leaderboard import evaluate, get_task

    task = get_task(TASK, **params)
    ds = task.open(source="synthetic:tiny-0", root=root)
    start = time.perf_counter()
    for f in files:
        evaluate(task, f, source="synthetic:tiny-0", root=root, n=n, ds=ds, progress=False)
    return len(files) / (time.perf_counter() - start)


def server(base: Path, root: Path, workers: int):
    from wemd.leaderboard.server.process import BoardProcess

    return BoardProcess(f"sqlite:///{base / 'board.sqlite'}", base / "data",
                        ["--source", "synthetic", "--scale", "tiny", "--synth-seed", "0",
                         "--root", str(root), "--rate", "100000"], workers=workers).start()


def submit_all(url: str, tokens: list[str], files: list[Path], n: int, params: dict
               ) -> tuple[list[str], list[float], int]:
    """Submit every file from one thread per token; (ids, accept latencies, refusals)."""
    from wemd.leaderboard import Client

    def client_run(k: int) -> tuple[list[str], list[float], int]:
        ids, lat, refused = [], [], 0
        with Client(url, token=tokens[k]) as c:
            for f in files[k::len(tokens)]:
                t0 = time.perf_counter()
                try:
                    ids.append(c.submit(TASK, f, method=f"bench {f.stem}", n=n, params=params)["id"])
                    lat.append(time.perf_counter() - t0)
                except Exception as exc:  # counted, the benchmark goes on
                    print(f"  refused {f.name}: {exc}")
                    refused += 1
        return ids, lat, refused

    with cf.ThreadPoolExecutor(len(tokens)) as pool:
        parts = list(pool.map(client_run, range(len(tokens))))
    return ([i for p in parts for i in p[0]], [x for p in parts for x in p[1]],
            sum(p[2] for p in parts))


def wait_all(url: str, ids: list[str], timeout: float) -> list[dict]:
    from wemd.leaderboard import Client

    with Client(url) as c:
        return [c.wait(i, timeout=timeout, poll=0.5) for i in ids]


def scoring_rate(engine) -> tuple[int, float]:
    """(jobs done, files per second between the first start and the last finish)."""
    from wemd.leaderboard.server import db

    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.submissions.c.started, db.submissions.c.finished)
                            .where(db.submissions.c.status == "done")).all()
    if not rows:
        return 0, 0.0
    return len(rows), len(rows) / (max(r.finished for r in rows) - min(r.started for r in rows))


def load_test(args: argparse.Namespace, root: Path, files: list[Path], params: dict,
              floor: float, tmp: Path) -> None:
    from wemd.leaderboard.server import db, tokens

    base = tmp / "load"
    base.mkdir()
    engine = db.connect(f"sqlite:///{base / 'board.sqlite'}")
    toks = [tokens.create(engine, f"client-{k}") for k in range(args.clients)]
    srv = server(base, root, args.workers)
    try:
        ids, lat, refused = submit_all(srv.url, toks, files, args.n, params)
        final = wait_all(srv.url, ids, timeout=3600)
    finally:
        srv.stop()
    with engine.connect() as conn:
        entries = conn.execute(sa.select(db.entries.c.submission_id)).scalars().all()
        in_db = set(conn.execute(sa.select(db.submissions.c.id)).scalars().all())
    done = [f for f in final if f["status"] == "done"]
    lost = len([i for i in ids if i not in in_db]) + len([f for f in final if f["status"] not in ("done", "failed")])
    duplicated = len(entries) - len(set(entries)) + sum(f["attempts"] > 1 for f in final)
    _, loaded = scoring_rate(engine)
    lat_ms = sorted(1000 * x for x in lat)
    print(f"\n== {args.clients} clients, {len(files)} files, {args.workers} workers ==")
    print(f"accepted {len(ids)}, refused {refused}, done {len(done)}, "
          f"failed {len(final) - len(done)}, lost {lost}, duplicated {duplicated}")
    reasons = sorted({f["reason"] for f in final if f["status"] == "failed"})
    if reasons:
        print("failure reasons:", *reasons[:5], sep="\n  ")
    print(f"accept path (upload + submit): p50 {statistics.median(lat_ms):.0f} ms, "
          f"p95 {lat_ms[int(0.95 * (len(lat_ms) - 1))]:.0f} ms")
    print(f"scoring under that load: {loaded:.2f} files/s with {args.workers} workers "
          f"({loaded / floor:.2f} x local evaluate)")
    # 3: the same jobs scored again by one worker with nothing else going on
    with engine.begin() as conn:
        conn.execute(db.entries.delete())
        conn.execute(db.submissions.update().values(status="queued", started=None,
                                                    finished=None, entry_id=None, reason=None))
    srv = server(base, root, 1)
    try:
        wait_all(srv.url, ids, timeout=3600)
    finally:
        srv.stop()
    count, alone = scoring_rate(engine)
    print(f"server scoring, one worker, no uploads: {alone:.2f} files/s ({count} files); local "
          f"evaluate in one process: {floor:.2f} files/s; ratio {alone / floor:.2f}")


def kill_test(args: argparse.Namespace, root: Path, files: list[Path], params: dict,
              tmp: Path) -> None:
    from wemd.leaderboard.server import db, tokens

    base = tmp / "kill"
    base.mkdir()
    url = f"sqlite:///{base / 'board.sqlite'}"
    engine = db.connect(url)
    tok = tokens.create(engine, "killer")
    srv = server(base, root, 1)
    ids, _, _ = submit_all(srv.url, [tok], files[: args.kill_files], args.n, params)
    status = db.submissions.c.status
    while True:  # wait until some are done and one is being scored
        with engine.connect() as conn:
            counts = dict(conn.execute(sa.select(status, sa.func.count()).group_by(status)).all())
        if counts.get("done", 0) >= 3 and counts.get("scoring", 0):
            break
        time.sleep(0.05)
    srv.stop(signal.SIGKILL)
    print(f"\n== kill -9 mid-scoring ({len(ids)} submissions) ==")
    print(f"at the kill: {counts}")
    srv = server(base, root, 1)
    try:
        final = wait_all(srv.url, ids, timeout=3600)
    finally:
        srv.stop()
    ended = {s: sum(f["status"] == s for f in final) for s in ("done", "failed")}
    unexplained = [f["id"] for f in final if f["status"] == "failed" and not f["reason"]]
    print(f"after the restart: {ended}, retried {sum(f['attempts'] > 1 for f in final)}, "
          f"failed without a reason {len(unexplained)}, not finished "
          f"{len(final) - sum(ended.values())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--n", type=int, default=4, help="instances per file")
    ap.add_argument("--crop", type=int, default=256, help="crop (non-standard below 512)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kill-files", type=int, default=30)
    args = ap.parse_args()
    from wemd.synthetic import build

    params = {"crop": args.crop} if args.crop != 512 else {}
    with tempfile.TemporaryDirectory(prefix="wemd-bench-board-") as tmp:
        tmp = Path(tmp)
        root = tmp / "home"
        build(["tem_full"], root=root, scale="tiny", seed=0, progress=False)
        files = make_files(root, tmp / "preds", args.files, args.n, params)
        floor = local_floor(root, files, args.n, params)
        load_test(args, root, files, params, floor, tmp)
        kill_test(args, root, files, params, tmp)


if __name__ == "__main__":
    main()
