"""Pretrained weights: export a trained run with its model card, load it back by path, by name
from a local mirror over HTTP (127.0.0.1, pooch + sha256), and from the cache."""

import threading

import pytest

torch = pytest.importorskip("torch")

from tests.test_alrc_study import make_structured  # noqa: E402
from wemd.baselines import load_pretrained, training  # noqa: E402
from wemd.baselines.pretrained import PretrainedError, export_pretrained, read_registry  # noqa: E402
from wemd.errors import CorruptFileError  # noqa: E402
from wemd.range_server import serve  # noqa: E402


@pytest.fixture
def run_dir(home, tmp_path):
    torch.set_num_threads(1)
    make_structured("stem_crops_96x96", home, {"train": 10, "val": 3, "test": 2})
    cfg = training.TrainConfig(task="stem_adaptive_96", steps=2, batch_size=1, width=4,
                               train_crop=None)
    training.train(cfg, tmp_path / "run", progress=False)
    return tmp_path / "run"


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    httpd = serve(root)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.mark.slow
def test_export_then_load_by_path_and_from_a_mirror(run_dir, server, tmp_path):
    from wemd.cli import main

    root, url = server
    assert main(["export-model", str(run_dir), "adaptive-demo", "--out", str(root / "pretrained"),
                 "--seed", "1"]) == 0
    entry = read_registry(root / "pretrained")["adaptive-demo"]
    card = (root / "pretrained" / "adaptive-demo.md").read_text()
    assert card.startswith("---\nlibrary_name: pytorch")
    assert "provenance: subset" in card and "Trained and scored on subset data" in card
    assert "| mse |" in card and "released_seed: 1" in card

    x = torch.rand(1, 2, 96, 96)
    reference, _ = training.build_from_checkpoint(run_dir / "seed1" / "model.pt")
    by_path = load_pretrained(root / "pretrained" / "adaptive-demo.pt")
    assert by_path.card["seed"] == 1 and by_path.card["task"] == "stem_adaptive_96"

    cache = tmp_path / "cache"
    model = load_pretrained("adaptive-demo", registry=root / "pretrained", mirrors=[url], cache=cache)
    assert (cache / "adaptive-demo.pt").is_file()
    with torch.no_grad():
        assert torch.equal(model(x), reference(x)) and torch.equal(by_path(x), reference(x))
    # the cache is used when its hash matches: no mirror needed
    again = load_pretrained("adaptive-demo", registry=root / "pretrained", mirrors=[], cache=cache)
    assert again.card["metrics"] == model.card["metrics"]

    # a mirror serving different bytes is refused, and nothing is kept
    (root / "pretrained" / "adaptive-demo.pt").write_bytes(b"x" * entry.size)
    with pytest.raises(PretrainedError, match="does not match sha256"):
        load_pretrained("adaptive-demo", registry=root / "pretrained", mirrors=[url],
                        cache=tmp_path / "cache2")
    assert not (tmp_path / "cache2" / "adaptive-demo.pt").exists()


def test_unknown_names_missing_mirrors_and_bad_files_are_named(home, tmp_path):
    with pytest.raises(PretrainedError, match="none registered"):
        load_pretrained("atrous-tem")
    (tmp_path / "registry.json").write_text(
        '{"m": {"name": "m", "file": "m.pt", "sha256": "' + "0" * 64 + '", "size": 3, '
        '"task": "t", "model": "atrous-denoiser", "provenance": "real", "card": "m.md"}}')
    with pytest.raises(PretrainedError, match="WEMD_MIRRORS"):
        load_pretrained("m", registry=tmp_path, mirrors=[], cache=tmp_path / "c")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(CorruptFileError, match="bad.pt"):
        load_pretrained(bad)
    with pytest.raises(PretrainedError, match="record.json"):
        export_pretrained(tmp_path, "x", tmp_path / "out")
