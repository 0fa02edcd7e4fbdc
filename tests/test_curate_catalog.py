"""The catalog accepts datasets declared by a curated manifest, and nothing else it is handed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import wemd
from tests.curate_files import write_tiff
from wemd import catalog
from wemd.curate import Rules, curate
from wemd.errors import ManifestError, UnknownDatasetError

pytest.importorskip("rsciio")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    base = tmp_path_factory.mktemp("declared")
    rng = np.random.default_rng(0)
    for g in range(3):
        (base / "src" / f"g{g}").mkdir(parents=True)
        write_tiff(base / "src" / f"g{g}" / "a.tif", rng.random((96, 128)).astype(np.float32))
    curate(base / "src", base / "home", "lab_small", Rules(kind="stem", crop=64), progress=False)
    return base / "home"


def _tampered(home, tmp_path, change):
    copy = tmp_path / "home"
    shutil.copytree(home / "lab_small_crops", copy / "lab_small_crops")
    path = copy / "lab_small_crops" / "wemd.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    catalog._DECLARED.pop("lab_small_crops", None)
    return copy


def test_declared_dataset_is_found_under_its_root(home):
    catalog._DECLARED.pop("lab_small_crops", None)
    with pytest.raises(UnknownDatasetError):
        catalog.get("lab_small_crops", home.parent / "elsewhere")
    spec = catalog.get("lab_small_crops", home)
    assert (spec.family, spec.item_shape, spec.layouts) == ("stem", (64, 64), ("tiff_dir",))
    assert spec.derived_from == "lab_small" and spec.declared_at == str(home / "lab_small_crops")
    assert catalog.get("lab_small_crops") is spec  # known to later calls in this process
    assert len(wemd.load("lab_small_crops", "all", root=home)) == 6


@pytest.mark.parametrize("change, match", [
    (lambda m: m["spec"].update(family="wavefunctions"), "spec.family"),
    (lambda m: m["spec"].update(item_shape=[10 ** 9, 64]), "spec.item_shape"),
    (lambda m: m["spec"].update(layouts=["cif_dir"]), "spec.layouts"),
    (lambda m: m["spec"].update(dtype="complex64"), "dtype"),
    (lambda m: m["spec"].update(derived_from="../../etc"), "derived_from"),
    (lambda m: m["spec"].update(notes=[{"x": 1}]), "spec.notes"),
    (lambda m: m.update(spec=[1, 2]), "'spec' must be a JSON object"),
])
def test_hostile_declarations_are_refused(home, tmp_path, change, match):
    copy = _tampered(home, tmp_path, change)
    with pytest.raises(ManifestError, match=match):
        wemd.load("lab_small_crops", "test", root=copy)


def test_names_that_are_paths_or_published_names_are_refused(home, tmp_path):
    with pytest.raises(UnknownDatasetError):
        catalog.get("../lab_small_crops", home / "lab_small")
    copy = _tampered(home, tmp_path, lambda m: m.update(dataset="stem_crops"))
    (copy / "lab_small_crops").rename(copy / "stem_crops")
    assert catalog.get("stem_crops", copy) is catalog.CATALOG["stem_crops"]  # never replaced
    with pytest.raises(UnknownDatasetError):  # a real folder with a provenance other than curated
        catalog.get("lab_small_crops", _tampered(home, tmp_path / "b", lambda m: m.update(provenance="subset")))


@pytest.mark.parametrize("kind", ["zarr", "hdf5"])
def test_a_store_of_a_curated_set_declares_it_in_a_fresh_process(home, tmp_path, kind):
    """A store carries the curated manifest, so it loads and verifies, with the native
    fingerprint, in a process whose data home has never seen the curated folder."""
    pytest.importorskip("zarr" if kind == "zarr" else "h5py")
    import subprocess
    import sys

    from wemd.stores.convert import convert

    catalog.get("lab_small_crops", home)
    convert("lab_small_crops", tmp_path / "out", kind, root=home, progress=False)
    native = wemd.load("lab_small_crops", "all", root=home)
    code = ("import sys, wemd\nfrom wemd.verify import verify\n"
            "ds = wemd.load('lab_small_crops', 'all', source=sys.argv[1], url=sys.argv[2])\n"
            "print(len(ds), ds.fingerprint())\n"
            "print(verify('lab_small_crops', source=sys.argv[1], url=sys.argv[2], progress=False).ok)")
    run = subprocess.run([sys.executable, "-c", code, kind, str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "WEMD_HOME": str(tmp_path / "empty")})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(len(native)), native.fingerprint(), "True"]
