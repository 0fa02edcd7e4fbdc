"""CIF ingestion, COD fetching, hyperparameter draws and clTEM-style geometry."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest

from wemd.simulation.cif import (CIFError, fetch_cod_cifs, group_sites, read_cif, resolve_cifs,
                                 sample_occupancy)
from wemd.simulation.examples import EXAMPLES, REJECTED, cif_text, write_example_cifs
from wemd.simulation.geometry import (DEPTH_PADDING, LATERAL_PADDING, build_specimen, orientation,
                                      pixel_size, rotation_onto_z)
from wemd.simulation.protocol import (FULL, RESTRICTED, ProtocolError, sample_hyperparameters,
                                      variant_protocol)


@pytest.fixture(scope="module")
def cifs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifs")
    return {name: path for name, path in
            zip([*EXAMPLES, *REJECTED], write_example_cifs(folder, include_rejected=True))}


def test_expands_to_p1_and_reads_journal_and_cod_id(cifs):
    si = read_cif(cifs["Si"])
    assert len(si.fractional) == 8  # diamond: 8 atoms per cubic cell from one asymmetric site
    assert si.cod_id == "0000001" and si.journal == "Inorganic Chemistry" and si.split == "train"
    rutile = read_cif(cifs["TiO2"])
    assert sorted(z for c in rutile.candidates for z in c) == [8, 8, 8, 8, 22, 22]
    assert rutile.split == "val"
    assert read_cif(cifs["SrTiO3"]).split == "test"
    assert np.allclose(np.linalg.norm(rutile.cell, axis=1), [4.5937, 4.5937, 2.9587])


def test_partition_is_configurable(cifs):
    crystal = read_cif(cifs["SrTiO3"], split_of=lambda journal: "train")
    assert crystal.split == "train"


@pytest.mark.parametrize("symbol", ["H", "D"])
def test_rejects_hydrogen_and_deuterium_with_the_reason(cifs, tmp_path, symbol):
    text = cifs["MgOH2"].read_text().replace("H1 H ", f"H1 {symbol} ")
    path = tmp_path / "brucite.cif"
    path.write_text(text)
    with pytest.raises(CIFError, match="hydrogen or deuterium"):
        read_cif(path)


def test_rejects_hydrogen_listed_only_in_the_formula(cifs, tmp_path):
    text = cifs["MgO"].read_text().replace("_chemical_formula_sum 'Mg O'",
                                           "_chemical_formula_sum 'H2 Mg O2'")
    path = tmp_path / "unlocated.cif"
    path.write_text(text)
    with pytest.raises(CIFError, match="formula 'H2 Mg O2' contains hydrogen"):
        read_cif(path)
    hafnium = tmp_path / "hf.cif"
    hafnium.write_text(text.replace("'H2 Mg O2'", "'Hf Mg O2'"))
    assert read_cif(hafnium).formula == "Hf Mg O2"


def test_unreadable_cif_names_the_problem(tmp_path):
    path = tmp_path / "broken.cif"
    path.write_text("data_x\n_cell_length_a 5\nloop_\n_atom_site_label\n")
    with pytest.raises(CIFError) as info:
        read_cif(path)
    assert "broken.cif" in str(info.value)


def test_mixed_sites_are_sampled_by_occupancy(cifs):
    crystal = read_cif(cifs["Cu3Au"])
    assert crystal.has_mixed_sites and len(crystal.candidates) == 4  # fcc: 4 shared sites
    sites = np.zeros(40000, dtype=int)
    drawn = sample_occupancy(crystal, sites, np.random.default_rng(1))
    assert set(np.unique(drawn)) == {29, 79}
    assert np.mean(drawn == 79) == pytest.approx(0.25, abs=0.01)


def test_sites_group_across_the_cell_boundary():
    fractional = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.999, 0.0, 0.0], [0.5, 0.52, 0.5]])
    assert group_sites(fractional, np.diag([5.0, 5.0, 5.0])) == [[0, 2], [1], [3]]


def test_partial_site_leaves_vacancies(tmp_path):
    entry = list(EXAMPLES["Au"])
    entry[5] = [("Au1", "Au", 0, 0, 0, 0.6)]
    path = tmp_path / "au.cif"
    path.write_text(cif_text("Au", tuple(entry)))
    drawn = sample_occupancy(read_cif(path), np.zeros(20000, dtype=int), np.random.default_rng(2))
    assert np.mean(drawn == 0) == pytest.approx(0.4, abs=0.015)


@pytest.fixture
def cod_server(tmp_path):
    """A local HTTP server standing in for the COD, serving CIFs this test wrote."""
    root = tmp_path / "served"
    write_example_cifs(root, ["Si", "MgO"])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cod/"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_fetches_cifs_by_cod_id_through_pooch(cod_server, tmp_path, monkeypatch):
    (tmp_path / "served" / "cod").mkdir()
    for p in (tmp_path / "served").glob("*.cif"):
        p.rename(tmp_path / "served" / "cod" / p.name)
    paths = fetch_cod_cifs(["0000001", "0000005"], tmp_path / "cache", base_url=cod_server)
    assert [read_cif(p).formula for p in paths] == ["Si", "Mg O"]
    # cached: a second call needs no server
    assert resolve_cifs(["0000001"], tmp_path / "cache", base_url="http://127.0.0.1:9/") == [paths[0]]
    with pytest.raises(CIFError, match="download .* failed"):
        fetch_cod_cifs(["0000009"], tmp_path / "cache", base_url=cod_server)
    monkeypatch.setenv("WEMD_OFFLINE", "1")  # the cache still serves; the network is not asked
    assert fetch_cod_cifs(["0000005"], tmp_path / "cache", base_url=cod_server) == [paths[1]]
    with pytest.raises(CIFError, match="WEMD_OFFLINE=1 forbids"):
        fetch_cod_cifs(["0000001", "0000002"], tmp_path / "cache", base_url=cod_server)


def test_draws_are_deterministic_per_cif_draw_and_seed():
    a = sample_hyperparameters(FULL, "1000041", 0, 7)
    assert a == sample_hyperparameters(FULL, "1000041", 0, 7)
    assert a != sample_hyperparameters(FULL, "1000041", 1, 7)
    assert a != sample_hyperparameters(FULL, "1000041", 0, 8)
    assert a != sample_hyperparameters(FULL, "1000042", 0, 7)


def test_draws_stay_in_the_protocol_ranges():
    for protocol in (FULL, RESTRICTED):
        draws = [sample_hyperparameters(protocol, f"cif{i}", i % 3, 0) for i in range(300)]
        assert {d["voltage_kv"] for d in draws} == {80.0, 200.0, 300.0}
        assert all(protocol.depth_nm[0] <= d["depth_nm"] < protocol.depth_nm[1] for d in draws)
        assert all(protocol.width_nm[0] <= d["width_nm"] < protocol.width_nm[1] for d in draws)
        assert all(max(d["zone_axis"]) <= protocol.zone_max and any(d["zone_axis"]) for d in draws)
        tilts = np.array([d["tilt_deg"] for d in draws])
        assert tilts.std() == pytest.approx(protocol.tilt_sd_deg, rel=0.15)
    # restricted: zones in {0, 1}; (0, 0, 0) has probability 1/8, so redraws happen and are recorded
    redraws = [sample_hyperparameters(RESTRICTED, f"c{i}", 0, 0)["zone_000_redraws"] for i in range(200)]
    assert sum(redraws) > 0


def test_variant_protocols_and_overrides():
    protocol, small = variant_protocol("wavefunctions_n1")
    assert protocol.terms == 1 and not small
    protocol, small = variant_protocol("wavefunctions_96x96_restricted", {"depth_nm": [1, 2]})
    assert small and protocol.depth_nm == (1, 2) and protocol.zone_max == 1
    with pytest.raises(ProtocolError, match="unknown protocol fields"):
        variant_protocol("wavefunctions", {"depht_nm": (1, 2)})
    with pytest.raises(ProtocolError, match="not a wavefunction variant"):
        variant_protocol("stem_crops")


def test_rotation_puts_the_zone_axis_on_the_beam(cifs):
    rutile = read_cif(cifs["TiO2"])
    for zone in [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 0, 1), (0, 0, 1)]:
        rot = orientation(rutile.cell, zone, (0, 0, 0))
        beam = rot @ (np.asarray(zone, float) @ rutile.cell)
        assert np.allclose(beam / np.linalg.norm(beam), [0, 0, 1])
        assert np.allclose(rot @ rot.T, np.eye(3))
    assert np.allclose(rotation_onto_z([0, 0, -2]) @ [0, 0, -1], [0, 0, 1])
    tilted = orientation(rutile.cell, (0, 0, 1), (0.5, 0, 0)) @ [0, 0, 1]
    assert np.degrees(np.arccos(tilted[2])) == pytest.approx(0.5)


def test_supercell_fills_the_box_with_padding(cifs):
    si = read_cif(cifs["Si"])
    width, depth = 30.0, 60.0
    atoms = build_specimen(si, (1, 1, 0), (0.1, -0.1, 0.05), width, depth, np.random.default_rng(0))
    assert atoms.box[0] == atoms.box[1] == width + 2 * LATERAL_PADDING
    assert atoms.box[2] == np.ceil(depth + 2 * DEPTH_PADDING)
    lo, hi = atoms.positions.min(axis=0), atoms.positions.max(axis=0)
    assert np.all(lo >= np.array([LATERAL_PADDING, LATERAL_PADDING, DEPTH_PADDING]) - 1e-9)
    assert np.all(hi <= np.array([LATERAL_PADDING + width] * 2 + [DEPTH_PADDING + depth]) + 1e-9)
    density = 8 / 5.431**3
    assert len(atoms.numbers) == pytest.approx(density * width * width * depth, rel=0.03)
    again = build_specimen(si, (1, 1, 0), (0.1, -0.1, 0.05), width, depth, np.random.default_rng(0))
    assert np.array_equal(atoms.positions, again.positions)


def test_pixel_size_rule():
    assert pixel_size(50.0) == pytest.approx(66.0 / 512)
    assert pixel_size(100.0) == pytest.approx(116.0 / 512)
