"""wemd curate end to end: files in the real formats -> datasets that load, verify, export and
run a benchmark task; partitions that never split a group; duplicates kept together; the TEM
counts rule; a resumed run byte-identical to an uninterrupted one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import wemd
from tests.curate_files import write_dm, write_mrc, write_ser, write_tiff, write_velox
from wemd import catalog
from wemd.cli import main
from wemd.curate import Rules, curate
from wemd.curate.files import process_file, scan
from wemd.errors import WEMDError

pytest.importorskip("rsciio")


def _micrograph(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A uint16 image with large-scale structure (particles on a sloped background) and noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 500 + 2 * x * rng.uniform(0.2, 1) + y * rng.uniform(0, 1)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(20, 80)
        img += 2500 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
    return (img + rng.normal(0, 50, img.shape)).clip(0, 65535).astype(np.uint16)


def _stem_source(root: Path) -> Path:
    """Six contributors' folders in five formats; one image saved again as an 8-bit TIFF by
    another contributor (a near duplicate), a broken file and a text file."""
    rng = np.random.default_rng(7)
    for g in range(6):
        folder = root / f"user{g}"
        folder.mkdir(parents=True)
        for k in range(2):
            img = _micrograph(rng, 520 + 64 * k, 600)
            kind = (g + k) % 5
            if kind == 0:
                write_dm(folder / f"im{k}.dm3", img, operator=f"Op{g}", magnification=1e6)
            elif kind == 1:
                write_dm(folder / f"im{k}.dm4", img, version=4, operator=f"Op{g}")
            elif kind == 2:
                write_velox(folder / f"im{k}.emd", img.astype(np.float32))
            elif kind == 3:
                write_mrc(folder / f"im{k}.mrc", img)
            else:
                write_ser(folder / f"im{k}_1.ser", img)
    dm = root / "user0" / "im0.dm3"
    from wemd.curate.readers import read_frames

    (frame,), _ = read_frames(dm)
    eight_bit = np.round(frame.data / frame.data.max() * 255).astype(np.uint8)
    write_tiff(root / "user5" / "exported.tif", eight_bit)
    (root / "user2" / "broken.dm4").write_bytes(b"\x00\x00\x00\x04" + b"\xff" * 40)
    (root / "user3" / "readme.txt").write_text("notes")
    return root


@pytest.fixture(scope="module")
def stem(tmp_path_factory):
    base = tmp_path_factory.mktemp("curate")
    src = _stem_source(base / "src")
    out = base / "home"
    rules = Rules(kind="stem", group_by="folder")
    result = curate(src, out, "lab_stem", rules, progress=False)
    return src, out, result, rules


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".curate" not in p.parts}


def test_datasets_load_with_metadata(stem):
    _, out, result, _ = stem
    assert set(result.datasets) == {"lab_stem", "lab_stem_crops", "lab_stem_96x96", "lab_stem_crops_96x96"}
    ds = wemd.load("lab_stem_crops", "test", root=out)
    assert ds.provenance == "curated" and ds[0].shape == (512, 512) and ds[0].dtype == np.float32
    meta = ds.metadata(0)
    for key in ("source", "source_sha256", "pixel_size", "voltage_kv", "magnification", "detector",
                "date", "group", "operator"):
        assert key in meta
    assert meta["source"].startswith("user") and meta["group"].startswith("folder:user")
    full = wemd.load("lab_stem", "all", root=out)
    assert len(full) == sum(result.datasets["lab_stem"].values()) == 12 + 1  # + the exported TIFF
    small = wemd.load("lab_stem_96x96", "train", root=out)
    assert small[0].shape == (96, 96, 1)
    # original intensities are kept: the full image equals the file's pixels
    row = full.metadata(0)
    from wemd.curate.readers import read_frames

    (frame,), _ = read_frames(Path(stem[0]) / row["source"])
    np.testing.assert_array_equal(full[0], frame.data.astype(np.float32))
    # crops and the 96x96 crop are cut from the full image (the cache holds it once)
    crops = wemd.load("lab_stem_crops", "all", root=out)
    first = next(i for i in range(len(crops)) if crops.metadata(i)["source"] == row["source"])
    np.testing.assert_array_equal(crops[first], full[0][:512, :512])
    c96 = wemd.load("lab_stem_crops_96x96", "all", root=out)
    np.testing.assert_array_equal(c96[0][..., 0], full[0][:96, :96])


def test_partition_never_splits_a_group_and_duplicates_land_together(stem):
    _, out, result, _ = stem
    table = __import__("pandas").read_parquet(out / "lab_stem" / "items.parquet")
    splits_per_group = table.groupby("group")["split"].nunique()
    manifest = json.loads((out / "lab_stem" / "wemd.json").read_text())
    joined = manifest["generator"]["joined_groups"]
    # user0's image and its 8-bit export in user5 are one picture: their groups share a split
    assert result.duplicates >= 1 and joined == {"folder:user5": "folder:user0"}
    split_of = dict(zip(table["source"], table["split"]))
    assert split_of["user0/im0.dm3"] == split_of["user5/exported.tif"]
    assert (splits_per_group == 1).all()
    assert set(table["split"]) == {"train", "val", "test"}


def test_manifest_records_rules_sources_and_rejections(stem):
    src, out, _, rules = stem
    m = json.loads((out / "lab_stem_crops" / "wemd.json").read_text())
    assert m["provenance"] == "curated" and m["spec"]["item_shape"] == [512, 512]
    assert m["generator"]["rules"] == rules.to_json()
    paths = {s["path"]: s for s in m["generator"]["sources"]}
    from wemd.files import sha256_file

    assert {p.rsplit(".", 1)[1] for p in paths} == {"dm3", "dm4", "emd", "mrc", "ser", "tif", "txt"}
    assert all(s["sha256"] == sha256_file(src / p) for p, s in paths.items() if s["status"] == "ok")
    rejected = {r["path"]: r["reason"] for r in m["generator"]["rejected"]}
    assert "unreadable" in rejected["user2/broken.dm4"]
    assert "unsupported format" in rejected["user3/readme.txt"]
    card = (out / "lab_stem_crops" / "README.md").read_text()
    assert "curated from a lab's own microscope files" in card and "512x512" in card


def test_cli_info_verify_export(stem, capsys, tmp_path):
    _, out, _, _ = stem
    assert main(["info", "lab_stem", "--root", str(out)]) == 0
    text = capsys.readouterr().out
    assert "provenance: curated" in text and "user2/broken.dm4: unreadable" in text
    assert main(["verify", "lab_stem_crops", "--root", str(out)]) == 0
    assert "OK: no problems found" in capsys.readouterr().out
    pytest.importorskip("datasets")
    assert main(["export-hf", "lab_stem_96x96", str(tmp_path / "hf"), "--root", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "hf" / "lab_stem_96x96").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet"]
    # a fresh process knows nothing of the data home: the export alone declares the dataset
    code = ("import numpy as np, wemd, sys; ds = wemd.load('lab_stem_96x96', 'test', source='hf', "
            "repo=sys.argv[1]); print(len(ds), ds[0].shape, float(np.sum([d.sum() for d in ds])))")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "hf")], capture_output=True,
                         text=True, timeout=300, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    local = wemd.load("lab_stem_96x96", "test", root=out)
    assert run.stdout.split()[:2] == [str(len(local)), "(96,"]
    assert float(run.stdout.split()[-1]) == pytest.approx(float(np.sum([d.sum() for d in local])))


def test_cli_info_and_list_show_what_a_curated_set_is(stem, capsys):
    _, out, result, _ = stem
    assert main(["info", "lab_stem", "--root", str(out)]) == 0
    text = capsys.readouterr().out
    assert "\npaper:" not in text and "method_paper: Warwick electron microscopy datasets" in text
    counts = result.datasets["lab_stem"]
    shares = ":".join(str(round(100 * n / sum(counts.values()))) for n in counts.values())
    assert f"proportions: {shares} % of items by split (asked 75:10:15" in text
    assert main(["list", "--root", str(out)]) == 0
    listed = capsys.readouterr().out
    for name, counts in result.datasets.items():
        assert f"{'/'.join(map(str, counts.values()))}" in next(
            line for line in listed.splitlines() if line.startswith(name + " ")), name
    assert "[curated] " in listed and "stem_full " in listed


def test_convert_a_curated_set_to_zarr(stem, tmp_path):
    pytest.importorskip("zarr")
    _, out, _, _ = stem
    catalog._DECLARED.clear()  # as in a fresh process: only --root says where the set is
    assert main(["convert", "lab_stem_96x96", str(tmp_path / "z"), "--to", "zarr", "--root", str(out)]) == 0
    assert (tmp_path / "z" / "lab_stem_96x96" / "zarr.json").is_file()


def test_verify_finds_a_tampered_item(stem, tmp_path, capsys):
    _, out, _, _ = stem
    copy = tmp_path / "home"
    shutil.copytree(out / "lab_stem_crops", copy / "lab_stem_crops")
    victim = next((copy / "lab_stem_crops" / "val").iterdir())
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert main(["verify", "lab_stem_crops", "--root", str(copy)]) == 1
    assert "sha256 differs" in capsys.readouterr().out


def test_resumed_run_equals_uninterrupted(stem, tmp_path):
    src, out, result, rules = stem
    home = tmp_path / "home"
    cache = home / ".curate" / "lab_stem" / "files"
    files, _ = scan(src)
    for rel in files[: len(files) // 2]:  # the first run stopped half way
        process_file(str(src.resolve()), rel, rules, str(cache))
    (cache / ".stray.npz.part").write_bytes(b"half a file")
    again = curate(src, home, "lab_stem", rules, workers=2, progress=False)
    assert again.reused == len(files) // 2 and again.datasets == result.datasets
    for name in result.datasets:
        assert _tree(home / name) == _tree(out / name), name
    changed = curate(src, home, "lab_stem", replace(rules, crop=256), progress=False)
    assert changed.reused == 0  # another rule: every file is done again
    assert wemd.load("lab_stem_crops", "test", root=home)[0].shape == (256, 256)


def test_a_damaged_cache_entry_is_done_again_not_fatal(tmp_path):
    from wemd.curate.files import CACHE_FORMAT, cached

    for damaged in ([], "text", {"format": CACHE_FORMAT, "key": "k"}):  # valid JSON, not a summary
        (tmp_path / "k.json").write_text(json.dumps(damaged))
        assert cached(tmp_path, "k") is None  # was: AttributeError / KeyError stopping the run
    (tmp_path / "k.json").write_text(json.dumps({"format": CACHE_FORMAT, "key": "k",
                                                 "status": "rejected", "reason": "r"}))
    assert cached(tmp_path, "k")["reason"] == "r"


def test_nothing_usable_is_an_error_naming_the_reasons(tmp_path):
    for g in range(3):
        (tmp_path / "src" / f"g{g}").mkdir(parents=True)
        (tmp_path / "src" / f"g{g}" / "a.dm3").write_bytes(b"")
    with pytest.raises(WEMDError, match="no usable image.*g0/a.dm3: empty file"):
        curate(tmp_path / "src", tmp_path / "out", "lab", Rules(kind="stem"), progress=False)


def test_bad_names_and_too_few_groups(tmp_path):
    src = tmp_path / "src"
    (src / "only").mkdir(parents=True)
    write_tiff(src / "only" / "a.tif", np.ones((600, 600), np.float32) * np.arange(600))
    with pytest.raises(WEMDError, match="published WEMD dataset"):
        curate(src, tmp_path / "out", "stem", Rules(kind="stem"), progress=False)
    with pytest.raises(WEMDError, match="lower-case letters"):
        curate(src, tmp_path / "out", "../evil", Rules(kind="stem"), progress=False)
    with pytest.raises(WEMDError, match="only 1 group"):
        curate(src, tmp_path / "out", "lab", Rules(kind="stem"), progress=False)
    with pytest.raises(WEMDError, match="inside the input folder"):
        curate(src, src / "out", "lab", Rules(kind="stem"), progress=False)
    with pytest.raises(WEMDError, match="--file-timeout must be a positive"):
        curate(src, tmp_path / "out2", "lab", Rules(kind="stem"), file_timeout=0, progress=False)
    # a refused run writes nothing (was: an empty out folder, even inside the input folder)
    assert not (src / "out").exists() and not (tmp_path / "out2").exists()


def test_tem_counts_rule_and_baseline_task(tmp_path, capsys):
    rng = np.random.default_rng(3)
    src = tmp_path / "src"
    for g in range(4):
        (src / f"d{g}").mkdir(parents=True)
        for k, dose in enumerate((3000, 400)):
            img = rng.poisson(dose, (280, 320)).astype(np.float32)
            write_dm(src / f"d{g}" / f"im{k}.dm4", img, version=4, operator=f"Op{g % 2}",
                     illumination="TEM", date="1/2/2019", time="9:00:00 AM")
        # stored as 1/10 of the counts, with the file's calibration saying so
        write_dm(src / f"d{g}" / "scaled.dm3", rng.poisson(3000, (280, 320)).astype(np.float32) / 10,
                 counts_scale=10.0, counts_units="counts")
    home = tmp_path / "home"
    assert main(["curate", str(src), "--kind", "tem", "--name", "lab_tem", "--out", str(home),
                 "--size", "128", "--min-counts", "2500", "--quiet"]) == 0
    table = __import__("pandas").read_parquet(home / "lab_tem" / "items.parquet")
    assert len(table) == 8 and (table["mean_counts"] >= 2500).all()
    assert set(table["counts_from"]) == {"stored values", "file calibration (counts)"}
    manifest = json.loads((home / "lab_tem" / "wemd.json").read_text())
    dropped = [d for d in manifest["generator"]["dropped"] if "under --min-counts 2500" in d["reason"]]
    assert sorted(d["path"] for d in dropped) == [f"d{g}/im1.dm4" for g in range(4)]
    ds = wemd.load("lab_tem", "test", root=home)
    assert ds[0].shape == (128, 128) and ds[0].min() == 0.0 and ds[0].max() == 1.0
    # group by operator: Op0 and Op1 (d0, d2 / d1, d3) never share a split
    capsys.readouterr()
    assert main(["curate", str(src), "--kind", "tem", "--name", "lab_tem_op", "--out", str(home),
                 "--size", "128", "--group-by", "operator", "--proportions", "1,1,1", "--quiet"]) == 0
    ops = __import__("pandas").read_parquet(home / "lab_tem_op" / "items.parquet")
    assert (ops.groupby("group")["split"].nunique() == 1).all()
    record = tmp_path / "rec.json"
    assert main(["baseline", "run", "tem_denoise_low_dose@lab_tem", "gaussian", "--root", str(home),
                 "--fit", "--n", "4", "--quiet", "--out", str(record)]) == 0
    rec = json.loads(record.read_text())
    assert rec["data"]["provenance"] == "curated"


def test_dask_cluster_gives_the_same_datasets(stem, tmp_path):
    distributed = pytest.importorskip("distributed")
    src, out, result, rules = stem
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:
        again = curate(src, tmp_path / "home", "lab_stem", rules, scheduler=cluster.scheduler_address,
                       progress=False)
    assert again.datasets == result.datasets
    for name in result.datasets:
        assert _tree(tmp_path / "home" / name) == _tree(out / name), name


def test_unreachable_scheduler_is_named(stem, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("wemd.curate.build.CONNECT_TIMEOUT_S", 1)
    src, _, _, rules = stem
    with pytest.raises(WEMDError, match="cannot reach the Dask scheduler"):
        curate(src, tmp_path / "home", "lab_stem", rules, scheduler="tcp://127.0.0.1:9", progress=False)
