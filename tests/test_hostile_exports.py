"""Hostile and careless exports: edited Parquet rows, cards that contradict their rows, and metadata
that tries to break out of the explorer page's embedded JSON."""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import wemd  # noqa: E402
from wemd.errors import CorruptFileError, WEMDError  # noqa: E402
from tests.fakedata import make_dataset  # noqa: E402


@pytest.fixture
def hf(tmp_path, monkeypatch):
    """The datasets module, offline, with a fresh cache per test."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return datasets


def export(name, home, out, **kw):
    from wemd.export.hf import export_hf

    make_dataset(name, home, **kw)
    export_hf(name, out, progress=False)
    return out


def edit_rows(datasets, path: Path, change) -> None:
    """Rewrite one Parquet shard with ``change(row, index) -> dict`` applied, the way a careless
    tool would: every other column (``sha256`` included) is carried over untouched."""
    table = datasets.Dataset.from_parquet(str(path))
    edited = table.map(change, with_indices=True, features=table.features)
    tmp = path.with_name(".edited.parquet")
    edited.to_parquet(str(tmp))
    os.replace(tmp, path)


def shard(out, name, split="test"):
    (path,) = (out / name).glob(f"{split}-*.parquet")
    return path


def set_card_provenance(out, name, provenance):
    card = (out / "README.md").read_text()
    card = re.sub(rf"(wemd_exports:.*?{name}:.*?provenance: )\w+", rf"\g<1>{provenance}", card, flags=re.S)
    (out / "README.md").write_text(card)


# --- 4: an export's fingerprint is computed from the rows it decodes -------------------------

def test_edited_array_rows_are_corruption_naming_the_row(hf, home, tmp_path):
    out = export("tem_96x96", home, tmp_path / "e")
    edit_rows(hf, shard(out, "tem_96x96"),
              lambda r, i: {"image": np.full((96, 96, 1), 5.0).tolist() if i == 1 else r["image"]})
    ds = wemd.load("tem_96x96", "test", source="hf", repo=out)
    assert float(ds[1][0, 0, 0]) == 5.0
    with pytest.raises(CorruptFileError, match=r"row 1 \(tem_96x96\.npy\[7\]\).*sha256"):
        ds.fingerprint()


def test_edited_array_rows_with_recomputed_digests_change_the_fingerprint(hf, home, tmp_path):
    import hashlib

    out = export("tem_96x96", home, tmp_path / "e")
    published = wemd.load("tem_96x96", "test").fingerprint()
    new = np.full((96, 96, 1), 5.0, np.float32)
    digest = hashlib.sha256(new.tobytes()).hexdigest()
    edit_rows(hf, shard(out, "tem_96x96"), lambda r, i: {"image": new.tolist(), "sha256": digest,
                                                         "data_sha256": digest} if i == 1 else r)
    assert wemd.load("tem_96x96", "test", source="hf", repo=out).fingerprint() != published


def test_edited_image_rows_of_tiff_datasets_are_corruption_naming_the_row(hf, home, tmp_path):
    out = export("stem_crops", home, tmp_path / "e")
    edit_rows(hf, shard(out, "stem_crops"), lambda r, i: {
        "image": np.full((512, 512), 9.0, "<f4").tobytes() if i == 0 else r["image"]})
    ds = wemd.load("stem_crops", "test", source="hf", repo=out)
    with pytest.raises(CorruptFileError, match=r"row 0 \(test/0\.tif\)"):
        ds.fingerprint()


def test_edited_shape_column_is_refused_not_reshaped(hf, home, tmp_path):
    out = export("stem_crops", home, tmp_path / "e")
    shapes = {0: [2, 2], 2: [1, 512 * 512]}
    edit_rows(hf, shard(out, "stem_crops"), lambda r, i: {"shape": shapes.get(i, r["shape"])})
    ds = wemd.load("stem_crops", "test", source="hf", repo=out)
    assert ds[1].shape == (512, 512)
    with pytest.raises(CorruptFileError, match=r"row 0 \(test/0\.tif\): undecodable"):
        ds[0]
    with pytest.raises(CorruptFileError, match=r"row 2 \(test/2\.tif\).*shape \(1, 262144\), expected \(512, 512\)"):
        ds[2]
    with pytest.raises(CorruptFileError, match="row 2"):
        ds[1:3]


def test_wavefunction_meta_that_is_a_list_is_corruption_naming_the_row(hf, home, tmp_path):
    out = export("wavefunctions_single", home, tmp_path / "e")
    edit_rows(hf, shard(out, "wavefunctions_single", "validation"),
              lambda r, i: {"meta": "[1, 2]" if i == 0 else r["meta"]})
    ds = wemd.load("wavefunctions_single", "val", source="hf", repo=out)
    assert ds.metadata(1)["cif"] == "1000005"
    with pytest.raises(CorruptFileError, match=r"row 0 \(val/0\.npy\).*JSON object"):
        ds.metadata(0)


def test_export_of_an_older_format_is_refused_with_the_fix(hf, home, tmp_path):
    out = export("tem_96x96", home, tmp_path / "e")
    (out / "README.md").write_text((out / "README.md").read_text().replace("wemd-hf/2", "wemd-hf/1"))
    with pytest.raises(WEMDError, match="wemd export-hf tem_96x96"):
        wemd.load("tem_96x96", "test", source="hf", repo=out)


# --- 9: a card cannot pass rows off as another provenance -----------------------------------

def test_card_claiming_real_for_subset_rows_is_refused(hf, home, tmp_path):
    out = export("tem_96x96", home, tmp_path / "e")
    set_card_provenance(out, "tem_96x96", "real")
    with pytest.raises(CorruptFileError, match=r"card says provenance 'real' but the rows .* say 'subset'"):
        wemd.load("tem_96x96", "test", source="hf", repo=out)


def test_rows_claiming_real_under_a_subset_card_are_refused(hf, home, tmp_path):
    out = export("tem_96x96", home, tmp_path / "e")
    edit_rows(hf, shard(out, "tem_96x96"), lambda r, i: {"provenance": "real" if i == 2 else r["provenance"]})
    with pytest.raises(CorruptFileError, match=r"card says provenance 'subset'.*'real'"):
        wemd.load("tem_96x96", "all", source="hf", repo=out)


def test_card_with_an_unknown_provenance_is_refused(hf, home, tmp_path):
    out = export("tem_96x96", home, tmp_path / "e")
    set_card_provenance(out, "tem_96x96", "genuine")
    with pytest.raises(WEMDError, match="provenance 'genuine'"):
        wemd.load("tem_96x96", "test", source="hf", repo=out)


# --- 10: metadata cannot break out of the explorer page's JSON --------------------------------

#: No "-->" among them: it would close the comment "<!--" opens and hide the breakage.
HOSTILE = ["<!--<script>", "</script><script>alert(1)</script>", "a & b > c", "line\u2028sep\u2029",
           "]]>"]


class _Scripts(HTMLParser):
    """The raw text of every <script> element, as an HTML tokenizer splits the page."""

    def __init__(self):
        super().__init__()
        self.scripts, self._open = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._open = (dict(attrs), [])

    def handle_data(self, data):
        if self._open is not None:
            self._open[1].append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._open is not None:
            self.scripts.append((self._open[0], "".join(self._open[1])))
            self._open = None


def hostile_page(out: Path) -> tuple[Path, list[dict]]:
    from wemd.viz.explorer import write_explorer
    from wemd.viz.maps import DatasetMap

    n = len(HOSTILE)
    dmap = DatasetMap(dataset="stem_96x96", split="test", provenance="subset", embedding="pca",
                      sigma_aware=False, view="amplitude", positions=np.arange(n),
                      coords=np.random.default_rng(0).normal(size=(n, 2)))
    meta = [{"id": f"{text}.tif", "journal": text, "hf_id": f"org/{text}"} for text in HOSTILE]
    images = np.random.default_rng(1).random((n, 96, 96)).astype(np.float32)
    return write_explorer(dmap, images, meta, out, progress=False), meta


def test_hostile_metadata_round_trips_through_the_page(tmp_path):
    page, meta = hostile_page(tmp_path / "x")
    parser = _Scripts()
    parser.feed(page.read_text())
    assert len(parser.scripts) == 2  # the data block and the program, nothing more
    attrs, payload = parser.scripts[0]
    assert attrs == {"id": "data", "type": "application/json"}
    assert not set("<>&\u2028\u2029") & set(payload), "JSON in a page must escape <, >, & and U+2028/9"
    assert json.loads(payload)["meta"] == meta


@pytest.mark.browser
@pytest.mark.slow
def test_hostile_metadata_in_headless_chromium(tmp_path, browser_tab):
    page, meta = hostile_page(tmp_path / "x")
    tab, errors = browser_tab, browser_tab.errors
    tab.on("dialog", lambda d: errors.append(f"dialog {d.message}") or d.dismiss())
    tab.goto(page.as_uri())  # waits for the load event: every script has run
    assert tab.evaluate("typeof window.wemdExplorer") == "object"
    assert tab.evaluate("document.scripts.length") == 2
    seen = tab.evaluate("JSON.parse(document.getElementById('data').textContent).meta")
    assert seen == meta and not errors
