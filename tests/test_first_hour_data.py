"""Issue 16, the data side of a new user's first hour: a first search that answers in seconds and
names split positions, local folders as model mirrors, a Croissant file that reads records where
the README's redirect puts it, and Hub cards of synthetic or partial exports that say so."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import wemd
from tests.fakedata import make_dataset
from tests.synthetic_fixtures import SCALE, SEED, tiny_root  # noqa: F401  (session fixture)
from tests.test_embed import structured_dataset
from wemd.cli import main
from wemd.viz.search import INDEX_DIR, search
from wemd.viz.vae import VAEConfig

COUNTS = {"train": 45, "val": 9, "test": 9}
TINY_VAE = VAEConfig(width=4, iterations=15, batch_size=16)


# -- item 3 (and 12): search --------------------------------------------------------------------
def _index_folders(home, method: str) -> list:
    return sorted((home / INDEX_DIR).rglob(f"{method}-*/index.json"))


def test_first_search_uses_pca_and_never_trains_a_vae(home, tmp_path, capsys):
    """The README's command, defaults only, answers in seconds (PCA) and says how to get the VAE."""
    structured_dataset(home, counts=COUNTS)
    query = tmp_path / "q.npy"
    np.save(query, wemd.load("stem_96x96", "val")[5][..., 0])
    assert main(["search", str(query), "--dataset", "stem_96x96", "-k", "3"]) == 0
    out = capsys.readouterr().out
    # no VAE was trained (the old default took 17-25 minutes): one PCA index answered
    assert _index_folders(home, "vae") == [] and len(_index_folders(home, "pca")) == 1
    assert "PCA" in out and "--embedding vae" in out


@pytest.mark.slow
def test_a_cached_vae_index_is_used_by_default_and_the_vae_is_one_argument_away(home):
    pytest.importorskip("torch")
    structured_dataset(home, counts=COUNTS)
    item = wemd.load("stem_96x96", "all")[31]
    # settings for a VAE are not a request to train one
    hits = search(item, "stem_96x96", k=2, vae=TINY_VAE, progress=False)
    assert {h.method for h in hits} == {"pca"}
    assert _index_folders(home, "vae") == []
    trained = search(item, "stem_96x96", k=2, method="vae", vae=TINY_VAE, progress=False)
    assert trained[0].method == "vae" and len(_index_folders(home, "vae")) == 1
    before = _index_folders(home, "vae")[0].stat().st_mtime_ns
    again = search(item, "stem_96x96", k=2, progress=False)  # default: the cached VAE index
    assert [h.method for h in again] == ["vae", "vae"] and again[0].position == 31
    assert [h.distance for h in again] == [h.distance for h in trained]
    assert _index_folders(home, "vae")[0].stat().st_mtime_ns == before  # read, not rebuilt
    # another split has no VAE index: its first search is PCA again
    assert search(item, "stem_96x96", k=1, split="train", progress=False)[0].method == "pca"


@pytest.mark.slow
def test_vae_training_shows_rate_and_time_left_by_default(home, tmp_path, capsys):
    pytest.importorskip("torch")
    structured_dataset(home, counts=COUNTS)
    query = tmp_path / "q.npy"
    np.save(query, wemd.load("stem_96x96", "all")[3][..., 0])
    assert main(["search", str(query), "--dataset", "stem_96x96", "--split", "train", "-k", "1",
                 "--embedding", "vae", "--iterations", "5"]) == 0
    err = capsys.readouterr().err
    bar = [line for line in err.replace("\r", "\n").splitlines() if "train VAE" in line][-1]
    assert "5/5" in bar and "<" in bar and ("it/s" in bar or "s/it" in bar)  # elapsed<left, rate


def test_hits_name_split_positions_in_results_text_and_figure(home, tmp_path, capsys):
    from wemd.viz.search import results_figure

    structured_dataset(home, counts=COUNTS)
    every = wemd.load("stem_96x96", "all")
    val = wemd.load("stem_96x96", "val")
    hits = search(val[5], "stem_96x96", k=3, method="pca", progress=False)
    assert hits[0].position == 45 + 5 and hits[0].split_item == "val[5]"
    assert hits[0].item_id == every.item_id(50)  # the file row stays beside it
    for h in hits:  # each label finds the same item again through wemd.load
        split, pos = h.split_item.rstrip("]").split("[")
        assert np.array_equal(wemd.load("stem_96x96", split)[int(pos)], every[h.position])
    assert search(val[5], "stem_96x96", k=1, split="val", method="pca",
                  progress=False)[0].split_item == "val[5]"

    fig = results_figure(val[5][..., 0], every[[h.position for h in hits]][..., 0], hits, "t")
    captions = [ax.get_title() for ax in fig.axes]
    assert captions[0] == "query" and "val[5]" in captions[1] and every.item_id(50) in captions[1]

    query = tmp_path / "q.npy"
    np.save(query, val[5][..., 0])
    assert main(["search", str(query), "--dataset", "stem_96x96", "-k", "2",
                 "--embedding", "pca"]) == 0
    first = capsys.readouterr().out.splitlines()[0].split()
    assert first[1] == every.item_id(50) and "val[5]" in first


# -- item 7: local folders as mirrors of pretrained weights -------------------------------------
def test_fetch_reads_a_file_url_and_checks_it_like_a_download(tmp_path):
    from wemd.fetch import FetchFailed, fetch_verified, mirror_base

    src = tmp_path / "mirror" / "pretrained"
    src.mkdir(parents=True)
    data = b"weights" * 1000
    (src / "w.pt").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    base = mirror_base(str(tmp_path / "mirror"))
    assert base.startswith("file://")
    got = fetch_verified([f"{base}/pretrained/w.pt"], "w.pt", digest, tmp_path / "cache",
                         size=len(data), retries=0, progress=False)
    assert got == tmp_path / "cache" / "w.pt" and got.read_bytes() == data
    with pytest.raises(FetchFailed) as failed:  # listed bytes are checked, nothing is kept
        fetch_verified([f"{base}/pretrained/w.pt"], "x.pt", "0" * 64, tmp_path / "c2",
                       size=len(data), retries=0, progress=False)
    assert failed.value.corrupt and list((tmp_path / "c2").iterdir()) == []
    with pytest.raises(FetchFailed, match="404|not found|No such"):
        fetch_verified([f"{base}/pretrained/none.pt"], "n.pt", digest, tmp_path / "c3",
                       size=len(data), retries=0, progress=False)


@pytest.fixture
def model_mirror(home, tmp_path):
    """A mirror folder holding one exported model (a 2-step run of the adaptive STEM network)."""
    torch = pytest.importorskip("torch")
    from tests.test_alrc_study import make_structured
    from wemd.baselines import training
    from wemd.baselines.pretrained import export_pretrained

    torch.set_num_threads(1)
    make_structured("stem_crops_96x96", home, {"train": 10, "val": 3, "test": 2})
    cfg = training.TrainConfig(task="stem_adaptive_96", steps=2, batch_size=1, width=4,
                               train_crop=None)
    training.train(cfg, tmp_path / "run", progress=False)
    mirror = tmp_path / "mirror"
    entry = export_pretrained(tmp_path / "run", "demo", mirror / "pretrained")
    return mirror, entry


@pytest.mark.slow
def test_load_pretrained_from_a_local_folder_mirror(model_mirror, tmp_path, monkeypatch):
    from wemd.baselines import load_pretrained
    from wemd.baselines.pretrained import PretrainedError

    mirror, entry = model_mirror
    registry = mirror / "pretrained"
    monkeypatch.chdir(tmp_path)
    for k, base in enumerate(["mirror", str(mirror), mirror.as_uri()]):  # relative, absolute, URL
        cache = tmp_path / f"cache{k}"
        model = load_pretrained("demo", registry=registry, mirrors=[base], cache=cache)
        assert model.card["task"] == "stem_adaptive_96"
        assert sorted(p.name for p in cache.iterdir()) == ["demo.pt"]
    for bad in ("no/such/folder", "ftp://example.org/wemd"):
        with pytest.raises(PretrainedError, match="not an http") as err:
            load_pretrained("demo", registry=registry, mirrors=[bad], cache=tmp_path / "c")
        assert bad in str(err.value) and "sha256" not in str(err.value)
    (registry / "demo.pt").write_bytes(b"x" * entry.size)  # a folder with other bytes
    with pytest.raises(PretrainedError, match="does not match sha256"):
        load_pretrained("demo", registry=registry, mirrors=["mirror"], cache=tmp_path / "c4")
    assert not (tmp_path / "c4" / "demo.pt").exists()


# -- item 8: the README's croissant command -----------------------------------------------------
def test_croissant_redirected_elsewhere_reads_the_export_records(home, tmp_path, monkeypatch,
                                                                  capsys):
    mlc = pytest.importorskip("mlcroissant")
    make_dataset("cifs", home)
    monkeypatch.chdir(tmp_path)
    assert main(["export-hf", "cifs", "OUTDIR", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["croissant", "cifs", "--export", "OUTDIR"]) == 0  # ... > elsewhere/cifs.json
    target = tmp_path / "elsewhere" / "cifs.json"
    target.parent.mkdir()
    target.write_text(capsys.readouterr().out)
    records = list(mlc.Dataset(jsonld=str(target)).records(record_set="cifs"))
    assert len(records) > 0
    native = wemd.load("cifs", "all")
    want = {(native.metadata(i)["split"], native.item_id(i), native[i]) for i in range(len(native))}
    got = {({"validation": "val"}.get(s := r["cifs/split"].decode(), s), r["cifs/id"].decode(),
            r["cifs/cif"].decode()) for r in records}
    assert got == want


# -- item 9: cards of synthetic and partial exports ---------------------------------------------
def _card(folder):
    from wemd.export.hf import read_card

    text = (folder / "README.md").read_text()
    return read_card(folder), text.split("---\n", 2)[2]


@pytest.mark.slow
def test_card_of_a_synthetic_export_says_synthetic_with_its_own_counts(tiny_root, tmp_path):
    from wemd.cards import size_category
    from wemd.synthetic import synthetic_root

    out = tmp_path / "hub"
    assert main(["export-hf", "tem_96x96", str(out), "--source", "synthetic", "--scale", SCALE,
                 "--synth-seed", str(SEED), "--root", str(tiny_root), "--no-progress"]) == 0
    front, body = _card(out)
    built = {s: len(wemd.load("tem_96x96", s, root=synthetic_root(tiny_root, SCALE, SEED)))
             for s in ("train", "val", "test")}
    title, description = body.lstrip().splitlines()[0], body.split("\n\n")[1]
    assert "synthetic" in front["pretty_name"].lower() and "synthetic" in title.lower()
    assert "synthetic" in description.lower() and "Experimental" not in description
    assert front["size_categories"] == [size_category(sum(built.values()))] == ["n<1K"]
    assert "synthetic" in front["tags"]
    rows = [row.split("|")[1:3] for row in body.splitlines()
            if row.startswith("| ") and row.count("|") == 3]
    table = {k.strip(): v.strip() for k, v in rows if k.strip() != "split"}
    assert table == {**{s: str(n) for s, n in built.items()}, "total": str(sum(built.values()))}
    published = wemd.catalog.get("tem_96x96")
    assert f"{published.total}" not in table.values()  # the real counts are only mentioned


def test_card_of_a_subset_export_of_one_split_says_subset(home, tmp_path):
    from wemd.cards import render

    make_dataset("stem_96x96", home, counts={"train": 6, "val": 2, "test": 3})
    out = tmp_path / "hub"
    assert main(["export-hf", "stem_96x96", str(out), "--split", "test", "--no-progress"]) == 0
    front, body = _card(out)
    assert "subset" in front["pretty_name"] and "subset" in body.lstrip().splitlines()[0]
    assert front["size_categories"] == ["n<1K"]
    assert "| test | 3 |" in body and "| train |" not in body
    # the real data, but only one of its splits, is a subset too
    spec = wemd.catalog.get("stem_96x96")
    partial = render(spec, counts={"test": spec.splits["test"]}, provenance="real")
    assert "subset" in partial.split("---\n", 2)[2].splitlines()[0]
    assert "subset" not in render(spec).split("---\n", 2)[2].splitlines()[0]
