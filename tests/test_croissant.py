"""Croissant JSON-LD: valid for mlcroissant, checksums of real files, records readable."""

import json
import subprocess
import sys

import pytest

mlc = pytest.importorskip("mlcroissant")

from wemd import catalog  # noqa: E402
from wemd.cli import main  # noqa: E402
from wemd.export.croissant import croissant  # noqa: E402
from wemd.errors import WEMDError  # noqa: E402
from wemd.export.hf import export_hf  # noqa: E402
from wemd.files import sha256_file  # noqa: E402
from wemd.mirror import build_mirror  # noqa: E402
from tests.fakedata import make_dataset  # noqa: E402


def validated(doc, path):
    """Write the JSON-LD and load it with mlcroissant, which raises on any validation error."""
    path.write_text(json.dumps(doc))
    return mlc.Dataset(jsonld=str(path))


@pytest.mark.parametrize("name", sorted(catalog.CATALOG))
def test_every_dataset_has_valid_croissant(tmp_path, name):
    ds = validated(croissant(name), tmp_path / f"{name}.json")
    meta = ds.metadata
    assert meta.name == f"wemd-{name}" and meta.url == catalog.LANDING_PAGE
    assert [r.name for r in meta.record_sets] == [name]
    assert "id" in [f.name for f in meta.record_sets[0].fields]


def test_distribution_lists_export_and_mirror_files_with_sha256(home, tmp_path):
    make_dataset("cifs", home)
    export_hf("cifs", tmp_path / "export", progress=False)
    build_mirror("cifs", tmp_path / "mirror", progress=False)
    doc = croissant("cifs", export=tmp_path / "export", mirror=tmp_path / "mirror",
                    base_url="https://mirror.example/wemd")
    files = {d["@id"]: d for d in doc["distribution"] if d["@type"] == "cr:FileObject"}
    parquet = files["cifs/test-00000-of-00001.parquet"]
    assert parquet["sha256"] == sha256_file(tmp_path / "export" / "cifs" / "test-00000-of-00001.parquet")
    assert parquet["contentUrl"] == "https://mirror.example/wemd/cifs/test-00000-of-00001.parquet"
    assert "cifs/cifs-common-0000.tar" in files and "cifs/mirror.json" in files
    validated(doc, tmp_path / "doc.json")
    # records read through mlcroissant from the export match the data, split from the file name
    local = croissant("cifs", export=tmp_path / "export")
    ds = validated(local, tmp_path / "export" / "croissant.json")
    records = list(ds.records(record_set="cifs"))
    assert len(records) == 9
    splits = sorted({r["cifs/split"].decode() for r in records})
    assert splits == ["test", "train", "validation"]
    assert {r["cifs/provenance"] for r in records} == {b"subset"}
    # the description says first that this copy is not the published data, with its own counts
    for doc in (local, croissant("cifs", mirror=tmp_path / "mirror")):
        assert doc["description"].startswith("A SUBSET copy of cifs, not the published data: it "
                                             "holds train ")
    assert croissant("cifs")["description"].startswith(catalog.get("cifs").description)


@pytest.mark.slow
def test_array_records_read_in_a_fresh_process(home, tmp_path):
    """mlcroissant reads Array3D columns as nested lists (in a process without `datasets`)."""
    make_dataset("tem_96x96", home)
    export_hf("tem_96x96", tmp_path / "e", progress=False)
    assert main(["croissant", "tem_96x96", "--export", str(tmp_path / "e"),
                 "--out", str(tmp_path / "e" / "c.json")]) == 0
    code = ("import mlcroissant as mlc, numpy as np, sys\n"
            "r = next(iter(mlc.Dataset(jsonld=sys.argv[1]).records(record_set='tem_96x96')))\n"
            "a = np.asarray(r['tem_96x96/image'], dtype=np.float32)\n"
            "print(a.shape, float(a.max()), r['tem_96x96/split'].decode())\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "e" / "c.json")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    shape, value, split = out.stdout.strip().rsplit(" ", 2)
    assert shape == "(96, 96, 1)" and split in ("train", "validation", "test")


def test_cli_prints_json_and_missing_mirror_is_clear(tmp_path, capsys):
    assert main(["croissant", "tem_96x96"]) == 0
    doc = json.loads(capsys.readouterr().out)
    image = [f for f in doc["recordSet"][0]["field"] if f["name"] == "image"][0]
    assert image["cr:arrayShape"] == "96,96,1" and image["dataType"] == "cr:Float32"
    with pytest.raises(WEMDError, match="wemd mirror build"):
        croissant("tem_96x96", mirror=tmp_path)


def test_float_images_of_varied_size_read_back_through_mlcroissant(home, tmp_path):
    """stem_full / stem_crops store raw float32 bytes: the record must hand them over intact."""
    import numpy as np

    import wemd

    make_dataset("stem_crops", home)
    export_hf("stem_crops", tmp_path / "e", split="test", progress=False)
    ds = validated(croissant("stem_crops", export=tmp_path / "e"), tmp_path / "e" / "c.json")
    native = wemd.load("stem_crops", "test")
    ids = [native.item_id(i) for i in range(len(native))]
    records = list(ds.records(record_set="stem_crops"))
    assert len(records) == len(native)
    for r in records:
        image = np.frombuffer(r["stem_crops/image"], "<f4").reshape(r["stem_crops/shape"])
        assert np.array_equal(image, native[ids.index(r["stem_crops/id"].decode())])
