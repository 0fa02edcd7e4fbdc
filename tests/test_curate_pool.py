"""The per-file time limit of a curation run's worker processes: a file whose reading crawls (a
DM file with a tag tree of 100,000 entries, a real hostile input) is rejected with the reason, its
worker is replaced and the run goes on; the rejection is not cached, so a rerun tries it again."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.curate_files import write_dm, write_tiff
from wemd.curate import Rules, curate

pytest.importorskip("rsciio")


def test_a_file_over_the_time_limit_is_rejected_and_the_run_goes_on(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    src = tmp_path / "src"
    for g in range(3):
        (src / f"g{g}").mkdir(parents=True)
        for k in range(2):
            write_tiff(src / f"g{g}" / f"im{k}.tif", rng.random((64, 80)).astype(np.float32))
    # rosettasciio parses each of these tags in Python, twice: several seconds on any machine
    write_dm(src / "g1" / "bloated.dm3", rng.random((64, 64)).astype(np.float32),
             image_tags={"Notes": {f"n{i}": float(i) for i in range(100_000)}})
    rules = Rules(kind="stem", crop=32, small=16)
    monkeypatch.chdir(tmp_path)  # a relative --out reaches the workers as an absolute path
    t0 = time.monotonic()
    result = curate("src", "home", "lab", rules, workers=2, file_timeout=1.0, progress=False)
    took = time.monotonic() - t0
    assert result.rejected == [{"path": "g1/bloated.dm3", "reason": "reading and curating it took "
                                "over 1 s (--file-timeout); the worker was stopped"}]
    assert sum(result.datasets["lab"].values()) == 6 and result.out == (tmp_path / "home").resolve()
    again = curate(src, tmp_path / "home", "lab", rules, workers=2, file_timeout=1.0, progress=False)
    assert again.reused == 6 and [r["path"] for r in again.rejected] == ["g1/bloated.dm3"]
    assert took < 60
