"""pandas tables: the catalog (one row per dataset) and item metadata (one typed row per item)."""

import json

import pandas as pd

import wemd
from tests.fakedata import make_dataset
from wemd import catalog
from wemd.frames import catalog_frame
from wemd.stores.convert import convert


def test_catalog_frame_has_every_dataset_with_typed_counts_and_sizes(home):
    make_dataset("tem_96x96", home)
    df = catalog_frame()
    assert list(df["name"]) == list(catalog.CATALOG)
    row = df.set_index("name").loc["tem_96x96"]
    assert (row["n_train"], row["n_val"], row["n_test"]) == (11350, 2431, 3486)
    assert row["item_shape"] == "96x96x1" and row["dtype"] == "float32"
    assert row["item_bytes"] == 96 * 96 * 4 and row["total_bytes"] == 96 * 96 * 4 * 17267
    assert row["local_provenance"] == "subset" and row["derived_from"] == "tem_full"
    assert pd.isna(df.set_index("name").loc["stem_full", "item_bytes"])
    assert df["n_train"].dtype == "Int64" and df["name"].dtype == "string"
    assert df.set_index("name").loc["focal_series", "n_all"] == 1000


def test_metadata_frame_of_wavefunctions_is_typed_and_the_same_from_a_store(home):
    make_dataset("wavefunctions", home)
    native = wemd.load("wavefunctions", "all").metadata_frame()
    assert len(native) == 9 and list(native["split"].cat.categories) == ["test", "train", "val"]
    assert list(native["split"]) == ["train"] * 4 + ["val"] * 2 + ["test"] * 3
    assert native["depth_nm"].dtype == "Float64" and native["voltage_kv"].dtype == "Int64"
    assert native["cif"].dtype == "string" and native["journal"].iloc[0] == "Inorganic Chemistry"
    assert list(native["position"]) == list(range(9))
    convert("wavefunctions", home / "out", "zarr", progress=False)
    stored = wemd.load("wavefunctions", "all", source="zarr", url=home / "out").metadata_frame()
    shared = [c for c in native.columns if c not in ("path", "meta_path")]
    pd.testing.assert_frame_equal(native[shared], stored[shared])
    assert "path" not in stored.columns and stored["store"].iloc[0].endswith("wavefunctions")


def test_metadata_frame_joins_the_per_item_sidecar(home):
    folder = make_dataset("stem_96x96", home)
    rows = [{"row": i, "source": f"train/{i}.tif", "contributor": f"stem-{i // 2:03d}",
             "zone_axis": [0, 0, 1], "pixel_size_A": 0.5 * (i + 1)} for i in range(9)]
    (folder / "synthetic_items.json").write_text(json.dumps(rows))
    df = wemd.load("stem_96x96", "val").metadata_frame()
    assert list(df["contributor"]) == ["stem-002", "stem-002"]  # rows 4 and 5
    assert list(df["row"]) == [4, 5] and df["pixel_size_A"].dtype == "Float64"
    assert list(df["position"]) == [0, 1] and df["zone_axis"].iloc[0] == [0, 0, 1]
