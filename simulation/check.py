"""``wemd simulate-check``: how far each simulated wave is from conserving intensity, worst first.

Every wave's metadata records the intensity accounting of its multislice run
(:class:`~wemd.simulation.multislice.NormRecord`): the exit intensity before normalisation (1 is
the incident beam; no absorption is modelled, so anything else is numerical), the intensity the
band limit removed and the change from the band-limited transmission function. The intensity
lost is a cheap indicator (Kirkland's check of a multislice run: a grid that holds the
scattering keeps the intensity near 1), but not a measure of the error: in
``benchmarks/bench_convergence.py`` waves losing 1-10 % were 3-40 % (relative L2) away from the
same engine at 4x sampling. So the check measures the error where it matters: ``rerun`` simulates
the worst waves again at a finer grid (2x by default; 2x and 4x errors agreed within a few
percent of each other in the benchmark) and compares them with the stored waves. The figure
draws intensity and loss against the heaviest atomic number and the thickness.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from wemd.errors import WEMDError
from wemd.files import atomic_path, safe_join, sha256_file, write_json

#: A metadata file larger than this is not one wemd wrote; it is skipped unread.
MAX_META_BYTES = 1_000_000
#: Intensity lost (1 - exit intensity) above which a wave is reported as likely not converged.
#: ``bench_convergence.py``: every wave losing over 5 % was over 10 % away from 4x sampling
#: (losing less does not prove convergence: see :func:`rerun`).
LOSS_WARNING = 0.05
CONVERGENCE_FILE = "convergence.json"
COLUMNS = ("wave", "cif", "formula", "max_z", "thickness_nm", "voltage_kv", "intensity",
           "intensity_lost", "band_limit_loss", "transmission_change", "max_transmission",
           "crop_intensity", "standard_sampling")


class CheckError(WEMDError, ValueError):
    """A folder ``simulate-check`` cannot report on."""


@dataclass
class CheckReport:
    """One row per wave (``rows``, worst first), what could not be read, and the figure."""

    folder: Path
    rows: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)
    figure: Optional[Path] = None
    worst: int = 10
    reruns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def not_converged(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["intensity_lost"] > LOSS_WARNING]

    def summary(self) -> str:
        lines = [f"wemd simulate-check {self.folder}: {len(self.rows)} waves, "
                 f"{len(self.not_converged)} losing over {LOSS_WARNING:.0%} of the beam "
                 "(likely not converged: simulate them with a finer --grid or --sampling)"]
        if self.rows:
            lost = [r["intensity_lost"] for r in self.rows]
            intensity = [r["intensity"] for r in self.rows]
            lines.append(f"exit intensity {min(intensity):.4f} to {max(intensity):.4f} of the "
                         f"incident beam; lost {_signed(min(lost))} to {_signed(max(lost))}")
        lines.append("columns: I_exit exit intensity before normalisation (1 = incident beam); "
                     "lost = 1 - I_exit; band: removed at the band limit; t_gain: change from "
                     "the band-limited transmission function; max|t|: largest |transmission|")
        header = (f"{'wave':<28} {'cif':<14} {'formula':<16} {'Zmax':>4} {'t/nm':>6} {'kV':>4} "
                  f"{'I_exit':>7} {'lost':>7} {'band':>7} {'t_gain':>7} {'max|t|':>6}")
        lines += [f"worst {min(self.worst, len(self.rows))} (largest |1 - exit intensity|):",
                  header]
        for r in self.rows[:self.worst]:
            lines.append(f"{r['wave'][:28]:<28} {str(r['cif'])[:14]:<14} "
                         f"{str(r['formula'])[:16]:<16} {r['max_z']:>4} "
                         f"{r['thickness_nm']:>6.1f} {r['voltage_kv']:>4.0f} "
                         f"{r['intensity']:>7.4f} {_signed(r['intensity_lost']):>7} "
                         f"{_signed(r['band_limit_loss']).lstrip('+'):>7} {_signed(r['transmission_change']):>7} "
                         f"{r['max_transmission']:>6.3f}")
        if self.reruns:
            lines.append("measured against a finer grid (relative L2 of the stored, normalised "
                         "view; 'band': within the stored grid's band limit):")
            for r in self.reruns:
                lines.append(f"  {r['wave']}: " + (
                    f"{r['grid']} -> {r['finer_grid']} px: error {r['error']:.4f}, band "
                    f"{r['band_error']:.4f}; exit intensity {r['intensity']:.4f} -> "
                    f"{r['finer_intensity']:.4f}" if "error" in r else f"not rerun: {r['reason']}"))
        if self.skipped:
            lines.append(f"{len(self.skipped)} metadata files skipped: "
                         + "; ".join(self.skipped[:3]) + ("; ..." if len(self.skipped) > 3 else ""))
        if self.figure is not None:
            lines.append(f"figure: {self.figure}")
        return "\n".join(lines)


def _signed(x: float) -> str:
    """``x`` with its sign to 4 decimals; values that round to zero print as +0.0000."""
    text = f"{x:+.4f}"
    return "+0.0000" if text == "-0.0000" else text


def _meta_files(out: Path) -> list[Path]:
    files = sorted(out.glob("*/meta/*.json")) + sorted(out.glob("meta/*.json"))
    return [f for f in files if not f.is_symlink()]


def _row(path: Path, out: Path) -> dict[str, Any]:
    """The check's row for one metadata file, or ValueError/KeyError/TypeError saying why not."""
    import gemmi

    if path.stat().st_size > MAX_META_BYTES:
        raise ValueError(f"over {MAX_META_BYTES:,} bytes")
    meta = json.loads(path.read_text(encoding="utf-8"))
    norm = meta["convergence"]
    species = meta.get("species") or [gemmi.Element(token.rstrip("0123456789.")).atomic_number
                                      for token in str(meta.get("formula", "")).split()]
    intensity = float(norm["intensity"])
    row = {"wave": str(path.relative_to(out)).replace("/meta/", "/").removesuffix(".json"),
           "meta": str(path),
           "cif": meta.get("cif"), "formula": meta.get("formula"),
           "max_z": int(max(species)) if species else 0,
           "thickness_nm": float(meta["hyperparameters"]["depth_nm"]),
           "voltage_kv": float(meta["physics"]["voltage_kv"]), "intensity": intensity,
           "intensity_lost": 1.0 - intensity,
           "band_limit_loss": float(norm.get("band_limit_loss", float("nan"))),
           "transmission_change": float(norm.get("transmission_change", float("nan"))),
           "max_transmission": float(norm.get("max_transmission", float("nan"))),
           "crop_intensity": float(norm.get("crop_intensity", float("nan"))),
           "standard_sampling": bool(norm.get("standard_sampling", True))}
    if not all(map(_finite, (row["intensity"], row["thickness_nm"], row["voltage_kv"]))):
        raise ValueError("non-finite intensity, thickness or voltage")
    return row


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def check_run(out: Union[str, os.PathLike], figure: Union[None, str, os.PathLike] = None,
              worst: int = 10) -> CheckReport:
    """Read every wave's metadata in ``out`` (a ``wemd simulate`` folder), rank the waves by
    |1 - exit intensity| and draw ``figure`` (default ``out/simulate-check.png``)."""
    out = Path(out)
    if worst < 0:
        raise CheckError(f"--worst {worst}: give the number of waves to list (0 or more)")
    if not out.is_dir():
        raise CheckError(f"{out} is not a folder; give the OUT of a `wemd simulate` run")
    files = _meta_files(out)
    if not files:
        raise CheckError(f"{out} holds no wave metadata (split/meta/*.json or meta/*.json); "
                         "give the OUT of a `wemd simulate` run")
    rows, skipped = [], []
    for path in files:
        try:
            rows.append(_row(path, out))
        except KeyError as exc:
            skipped.append(f"{path.name}: no {exc} record (simulated before wemd recorded it?)")
        except (OSError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            skipped.append(f"{path.name}: {type(exc).__name__}: {str(exc)[:80]}")
    rows.sort(key=lambda r: -abs(r["intensity_lost"]))
    report = CheckReport(out, rows, skipped, worst=worst)
    if rows:
        report.figure = draw(rows, Path(figure) if figure else out / "simulate-check.png")
    return report


def band_limited_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Relative L2 distance of ``a`` from ``b`` (same grid) within 2/3 of its Nyquist frequency,
    the band the multislice grid holds."""
    from wemd.simulation.multislice import BAND_LIMIT

    ky = np.fft.fftfreq(a.shape[-2])[:, None]
    kx = np.fft.fftfreq(a.shape[-1])[None, :]
    aperture = np.hypot(ky, kx) < BAND_LIMIT / 2
    fa, fb = np.fft.fft2(a) * aperture, np.fft.fft2(b) * aperture
    return float(np.linalg.norm(fa - fb) / np.linalg.norm(fb))


def rerun(report: CheckReport, cifs: Union[str, os.PathLike], count: int = 3,
          factor: int = 2) -> list[dict[str, Any]]:
    """Simulate the ``count`` worst waves of ``report`` again on a ``factor`` times finer grid
    (same draw, atoms and engine) and measure how far the stored waves are from them; the
    results go to ``OUT/convergence.json`` and ``report.reruns``. ``cifs``: the folder of the
    CIFs the run read (each is matched by file name and checked by its recorded sha256)."""
    if factor < 2:
        raise CheckError(f"--factor {factor}: a finer grid needs a factor of at least 2")
    if count < 0:
        raise CheckError(f"--rerun {count}: give the number of worst waves to simulate again "
                         "(0 or more)")
    folder, results = Path(cifs), []
    for row in report.rows[:count]:
        result: dict[str, Any] = {"wave": row["wave"], "intensity": row["intensity"]}
        results.append(result)
        try:
            result.update(_rerun_one(Path(row["meta"]), folder, factor))
        except (WEMDError, OSError, ValueError, KeyError, TypeError) as exc:
            result["reason"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    report.reruns = results
    write_json(report.folder / CONVERGENCE_FILE, {"factor": factor, "waves": results})
    return results


def _rerun_one(meta_path: Path, cifs: Path, factor: int) -> dict[str, Any]:
    """One wave of :func:`rerun`: its error against the same draw ``factor`` times finer.
    Everything read from the metadata is checked: the CIF by name (inside ``cifs``) and
    sha256, the array by the metadata file's own folder, the grid by the memory check."""
    from dataclasses import replace

    from wemd.simulation.backends import Job, make_backend
    from wemd.simulation.cif import read_cif
    from wemd.simulation.postprocess import normalise, standard_view
    from wemd.simulation.protocol import Protocol
    from wemd.simulation.runner import check_memory

    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    cif = safe_join(cifs, meta["cif_file"], "CIF file name", single=True)
    if not cif.is_file() or sha256_file(cif) != meta.get("cif_sha256"):
        return {"reason": f"{cif} is missing or not the CIF this wave was made from"}
    array = meta_path.parent.parent / f"{int(meta['index'])}.npy"  # split/meta/*.json
    if not array.is_file() or array.is_symlink():
        return {"reason": "no full-size array beside the metadata (96x96 variants are resized)"}
    # mapped, not read: a header declaring more than the file holds is refused (ValueError)
    # before any allocation or simulation
    stored = np.load(array, mmap_mode="r", allow_pickle=False)
    fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["protocol"].items()
              if k in Protocol.__dataclass_fields__}
    protocol = Protocol(**fields)
    grid = int(meta["physics"]["grid"][0])
    finer = replace(protocol, sim_grid=grid * factor, sampling=None)
    backend = meta["software"].get("backend")
    backend = backend if backend in ("numpy", "torch", "abtem") else "numpy"
    check_memory(finer, backend, 1)
    job = Job(cif, read_cif(cif), meta["hyperparameters"], finer, int(meta["draw"]),
              int(meta["seed"]))
    wave, used = make_backend(backend).run(job)
    view = normalise(standard_view(wave, protocol.grid, protocol.crop))
    if stored.shape != view.shape:
        return {"reason": f"stored array {stored.shape} is not the {view.shape} view"}
    return {"grid": grid, "finer_grid": grid * factor,
            "error": float(np.linalg.norm(stored - view) / np.linalg.norm(view)),
            "band_error": band_limited_distance(stored, view),
            "finer_intensity": float(used.get("norm", {}).get("intensity", np.nan))}


def draw(rows: list[dict[str, Any]], path: Path) -> Path:
    """Intensity lost (1 - exit intensity) against the heaviest atomic number and against the
    thickness, coloured by the other (PNG, units on every axis, colour bars), written
    atomically. The loss axis is symmetric-logarithmic: losses of 1e-5 and of 0.3, and gains
    (negative), all stay readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = np.array([r["max_z"] for r in rows])
    t = np.array([r["thickness_nm"] for r in rows])
    lost = np.array([r["intensity_lost"] for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True, sharey=True)
    panels = ((axes[0], z, "heaviest element in the structure (atomic number Z)", t,
               "thickness (nm)", "viridis"),
              (axes[1], t, "thickness (nm)", z, "heaviest element (atomic number Z)", "plasma"))
    for ax, x, xlabel, c, clabel, cmap in panels:
        points = ax.scatter(x, lost, c=c, cmap=cmap, s=22, edgecolors="0.2", linewidths=0.3)
        ax.axhline(0.0, color="0.4", lw=0.8, ls="--", label="intensity conserved")
        ax.axhline(LOSS_WARNING, color="tab:red", lw=0.9, ls=":",
                   label=f"loss warning ({LOSS_WARNING:.0%}): likely not converged")
        ax.set_yscale("symlog", linthresh=1e-4)
        ax.set_xlabel(xlabel)
        ax.grid(True, which="major", color="0.9", lw=0.6)
        fig.colorbar(points, ax=ax, label=clabel)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("intensity lost, 1 - exit intensity\n(fraction of the incident beam; "
                       "< 0: gain)")
    axes[0].set_title("Intensity lost vs atomic number")
    axes[1].set_title("Intensity lost vs thickness")
    fig.suptitle(f"wemd simulate-check: {len(rows)} waves; exit intensity "
                 f"{min(r['intensity'] for r in rows):.4f} to "
                 f"{max(r['intensity'] for r in rows):.4f} of the incident beam (no absorption "
                 "is modelled)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
