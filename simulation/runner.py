"""The dataset driver: CIFs in, a WEMD-layout dataset out; resumable, atomic, scaled out on Dask.

Every (split, CIF, draw) task writes its result to a staging folder ``OUT/.work/{recipe}/``
(array first, then its metadata JSON, each atomically; the metadata carries the array's and the
CIF's sha256 and marks the task complete; ``recipe`` hashes the variant, protocol, backend and
seed). A re-run skips tasks whose staged array still matches that hash. When all tasks
have been tried, the staged results are laid out as the loader expects (contiguous indices per
split), hashed into ``wemd.json`` and the failure log is written. A bad CIF or a failed task is
logged with its reason and never stops the run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

import numpy as np

from wemd.files import atomic_path, safe_join, save_npy, sha256_file, write_json
from wemd.catalog import SPLIT_ORDER, get as catalog_get, split_rank
from wemd.errors import WEMDError
from wemd.manifest import Manifest, file_entries, read_manifest, write_manifest
from wemd.simulation.cif import (CIFError, Crystal, printable_name, read_cif, resolve_cifs,
                                 structure_hash)
from wemd.simulation.physics import kirkland_citation
from wemd.simulation.postprocess import SMALL, normalise, standard_view, to_small
from wemd.simulation.protocol import Protocol, sample_hyperparameters, variant_protocol
from wemd.simulation.splits import SplitRule, make_split_rule

if TYPE_CHECKING:
    from wemd.simulation.backends import Backend

PathLike = Union[str, "os.PathLike[str]"]
WORK = ".work"
FAILURES = "failures.json"


class SimulationRunError(WEMDError, RuntimeError):
    """The run as a whole cannot proceed (no usable CIFs, unreachable scheduler, ...)."""


@dataclass(frozen=True)
class WaveTask:
    """One exit wave to simulate."""

    split: str
    cif_path: str
    name: str
    draw: int
    seed: int
    run_id: str = ""  # staging namespace: one per (variant, protocol, backend, seed)
    cif_sha256: str = ""  # the CIF's content, so an edited CIF is simulated again

    @property
    def key(self) -> str:
        return f"{self.name}-{self.draw}"


def _output(folder: Path, name: str) -> Path:
    """``folder / name`` for a file name made from a CIF's name (checked: never outside)."""
    return safe_join(folder, name, "output file name", single=True)


def _staged(out: Path, task: WaveTask) -> tuple[Path, Path]:
    base = out / WORK / task.run_id / task.split
    return _output(base, f"{task.key}.npy"), _output(base, f"{task.key}.json")


def task_done(out: Path, task: WaveTask) -> bool:
    """True if the task's staged array exists, matches the hash in its metadata, and was made
    from the same CIF content."""
    array, meta = _staged(out, task)
    if not (array.is_file() and meta.is_file()):
        return False
    try:
        record = json.loads(meta.read_text())
        return (record["cif_sha256"] == task.cif_sha256
                and record["sha256"] == sha256_file(array))
    except (OSError, ValueError, KeyError):
        return False


def run_task(task: WaveTask, out: str, variant: str, protocol: Protocol, small: bool, backend: str,
             backend_options: dict[str, Any], rule: SplitRule,
             crystal: Optional[Crystal] = None) -> dict[str, Any]:
    """Simulate one task and stage its array and metadata; returns a status record."""
    from wemd import __version__
    from wemd.simulation.backends import Job

    out_path = Path(out)
    try:
        crystal = crystal or read_cif(task.cif_path)
        crystal.split = task.split
        hyper = sample_hyperparameters(protocol, _draw_name(variant, task.name), task.draw,
                                       task.seed)
        engine = _engine(backend, backend_options)
        job = Job(Path(task.cif_path), crystal, hyper, protocol, task.draw, task.seed)
        wave, used = engine.run(job)
        if not np.all(np.isfinite(wave)):
            raise SimulationRunError("the exit wave has non-finite values")
        cropped = standard_view(wave, protocol.grid, protocol.crop)
        mean_amplitude = float(np.mean(np.abs(cropped)))
        stored = normalise(cropped)
        convergence = {**used.pop("norm", {}),
                       "crop_intensity": round(float(np.mean(np.abs(cropped) ** 2)), 6),
                       "standard_sampling": protocol.standard_sampling}
        stored = to_small(stored) if small else stored
        meta = {
            "variant": variant, "split": task.split, "cif": crystal.name, "cod_id": crystal.cod_id,
            "journal": crystal.journal, "formula": crystal.formula,
            "species": list(crystal.species),
            "cif_file": Path(task.cif_path).name, "cif_sha256": task.cif_sha256,
            "draw": task.draw, "seed": task.seed,
            "mixed_occupancy": crystal.has_mixed_sites, "split_rule": rule.wave_record(crystal.journal),
            "sanity": crystal.sanity,
            "protocol": protocol.to_json(), "hyperparameters": hyper, "physics": used,
            "convergence": convergence,
            "postprocess": {"crop": protocol.crop,
                            "crop_offset": (wave.shape[0] - round(wave.shape[0] * protocol.crop
                                                                  / protocol.grid)) // 2,
                            "resampled_from": (None if wave.shape[0] == protocol.grid else
                                               round(wave.shape[0] * protocol.crop / protocol.grid)),
                            "mean_amplitude_before_normalising": mean_amplitude,
                            "resized_to": list(stored.shape) if small else None},
            "software": {"wemd": __version__, "backend": backend, "backend_version":
                         engine.version(), **engine.software()},
        }
        array_path, meta_path = _staged(out_path, task)
        save_npy(array_path, stored)
        meta["sha256"] = sha256_file(array_path)
        write_json(meta_path, meta)
        return {"key": task.key, "split": task.split, "ok": True}
    except Exception as exc:  # one failure never stops the run: it is logged with its reason
        return _failure(task, exc)


def _failure(task: WaveTask, exc: BaseException) -> dict[str, Any]:
    """The failure-log record of a task that raised ``exc``."""
    return {"key": task.key, "split": task.split, "ok": False, "cif": task.name,
            "draw": task.draw, "stage": "simulate", "reason": f"{type(exc).__name__}: {exc}"}


_ENGINES: dict[str, Any] = {}


def _engine(backend: str, options: dict[str, Any]) -> "Backend":
    """One backend object per process and configuration (its version is asked once)."""
    from wemd.simulation.backends import make_backend

    key = json.dumps([backend, options], sort_keys=True, default=str)
    if key not in _ENGINES:
        _ENGINES[key] = make_backend(backend, **options)
    return _ENGINES[key]


def _draw_name(variant: str, name: str) -> str:
    """Draws of the 'unseen' variants use their own stream: new hyperparameters, same CIFs."""
    return f"{name}/unseen" if variant.endswith("_unseen") else name


def run_id(variant: str, protocol: Protocol, backend: str, options: dict[str, Any],
           seed: int, rule: Optional[SplitRule] = None) -> str:
    """A short hash of everything that shapes the outputs, naming the staging folder, so runs
    with other settings into the same OUT never pass for each other's finished work."""
    recipe = {"variant": variant, "protocol": protocol.to_json(), "backend": backend, "seed": seed,
              "options": {k: v for k, v in options.items() if k != "workers"},
              "split_rule": rule.to_json() if rule is not None else None}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:12]


def plan_tasks(crystals: Sequence[tuple[Path, Crystal]], variant: str, protocol: Protocol,
               seed: int, draws_per_cif: Optional[int] = None, run: str = "") -> list[WaveTask]:
    """Every task of a variant, in output order (split, CIF name, draw).

    Multi-material variants partition CIFs by journal (``crystal.split``); the ``unseen``
    variants draw new hyperparameters for training-set CIFs into ``val``; single-material
    variants spread the draws of one CIF over the catalog's split proportions.
    """
    spec = catalog_get(variant)
    draws = draws_per_cif or protocol.draws_per_cif
    tasks: list[WaveTask] = []
    ordered = sorted(crystals, key=lambda pc: pc[1].name)
    if protocol.name == "single":
        total = sum(spec.splits.values())
        bounds, acc = {}, 0
        for split, n in spec.splits.items():
            acc += n
            bounds[split] = int(round(draws * acc / total))
        for path, crystal in ordered:
            digest, start = sha256_file(path), 0
            for split, stop in bounds.items():
                tasks += [WaveTask(split, str(path), crystal.name, d, seed, run, digest)
                          for d in range(start, stop)]
                start = stop
    else:
        unseen = variant.endswith("_unseen")
        for path, crystal in ordered:
            if unseen:
                split = "val" if crystal.split == "train" else None
            else:
                split = crystal.split if crystal.split in spec.splits else None
            if split is not None:
                digest = sha256_file(path)
                tasks += [WaveTask(split, str(path), crystal.name, d, seed, run, digest)
                          for d in range(draws)]
    return sorted(tasks, key=lambda t: split_rank(t.split))  # stable: keeps CIF and draw order


def load_crystals(paths: Sequence[Path], split_of: Callable[[Crystal], str]
                  ) -> tuple[list[tuple[Path, Crystal]], list[dict[str, Any]]]:
    """Read every CIF; rejected ones come back as failure records with the reason, and CIFs
    kept with a sanity flag (:func:`~wemd.simulation.cif.plausibility`) as records of stage
    "sanity" with ``"flagged": true``. ``split_of`` (a :class:`SplitRule`) gives each its split.

    Duplicates are judged by structure (:func:`~wemd.simulation.cif.structure_hash`), whatever
    their ids: of CIFs with one structure, the first by (name, file name) is kept, so the
    outcome never depends on file order. CIFs that give one name (COD id) to different
    structures are all refused: their outputs would share names and either could be meant.
    """
    read, failures = [], []

    def refuse(path: Path, reason: str) -> None:
        failures.append({"cif": printable_name(path), "stage": "cif", "reason": reason})

    for path in map(Path, paths):
        try:
            crystal = read_cif(path)
        except CIFError as exc:
            refuse(path, exc.reason)
            continue
        crystal.split = split_of(crystal)
        read.append((path, crystal))
        failures += [{"cif": printable_name(path), "stage": "sanity", "flagged": True,
                      "reason": flag} for flag in crystal.sanity.get("flags", [])]
    kept: dict[str, int] = {}  # structure hash -> index into read
    for i in sorted(range(len(read)), key=lambda i: (read[i][1].name, read[i][0].name,
                                                     str(read[i][0]), i)):
        first = kept.setdefault(structure_hash(read[i][1]), i)
        if first != i:
            refuse(read[i][0], f"duplicate of {printable_name(read[first][0])} (same structure)")
    unique = [read[i] for i in sorted(kept.values())]
    claims: dict[str, list[str]] = {}
    for path, crystal in unique:
        claims.setdefault(crystal.name, []).append(printable_name(path))
    good = []
    for path, crystal in unique:
        files = claims[crystal.name]
        if len(files) == 1:
            good.append((path, crystal))
        else:
            refuse(path, f"{len(files)} CIFs ({', '.join(sorted(files))}) give the id "
                         f"{crystal.name!r} to different structures; keep one, or give each its "
                         "own _cod_database_code")
    return good, failures


#: Bytes of working memory per grid pixel of one simulation: psi, t, the FFT's output and
#: temporaries (complex64), the potential's real spectra per species, the propagator cache and
#: mask; measured peak ~60 bytes per pixel for the NumPy engine at 2048 x 2048 with 3 species,
#: 100 with margin (torch keeps the same arrays, plus a batch of spread species).
BYTES_PER_PIXEL = 100
#: Largest simulation grid accepted at all (2 GB of working memory per wave at 100 B/pixel).
MAX_GRID = 4096 * 4


def available_memory(device: str = "cpu") -> Optional[int]:
    """Bytes of memory available to new work: free memory of a CUDA ``device`` (torch), else
    the host's (Linux ``MemAvailable``); None where unknown."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def unplanned_reason(crystal: Crystal, rule: SplitRule, variant: str) -> str:
    """Why a readable CIF gives no wave of ``variant``, and what to do where something can."""
    if rule.by == "structure":
        where = "its structure"
    elif crystal.journal:
        where = f"journal {crystal.journal!r}"
    else:
        where = "no journal (neither _journal_name_full nor _citation_journal_full)"
    reason = f"{where} gives split {crystal.split!r} under the {rule.by} rule"
    if variant.endswith("_unseen"):
        return reason + f"; {variant} draws new waves from training CIFs only"
    if rule.map_source:
        return reason + ", which the split map does not list; add the journal to the map, or " \
                        "choose --split-by structure"
    return reason + (f", which {variant} does not use; choose --split-by structure, or list "
                     "the journal in a --split-map FILE")


def check_finer_sampling(protocol: Protocol) -> None:
    """Refuse a ``--grid`` that is not a positive whole number of pixels, or a ``--sampling``
    that is not a positive, finite pixel size, naming the option."""
    grid, sampling = protocol.sim_grid, protocol.sampling
    if grid is not None and (isinstance(grid, bool) or not isinstance(grid, int) or grid <= 0):
        raise SimulationRunError(f"--grid {grid!r}: give a positive number of pixels finer than "
                                 f"the protocol's {protocol.grid}, e.g. --grid {2 * protocol.grid}")
    if sampling is not None and (isinstance(sampling, bool) or not isinstance(sampling, (int, float))
                                 or not math.isfinite(sampling) or sampling <= 0):
        raise SimulationRunError(f"--sampling {sampling!r}: give a positive pixel size in "
                                 "Angstrom, e.g. --sampling 0.1")


def check_memory(protocol: Protocol, backend: str, workers: int, device: str = "cpu") -> int:
    """Refuse, before any work, a grid that cannot fit: over :data:`MAX_GRID`, or needing more
    than the available memory (of the torch ``device`` for a CUDA run) for ``workers``
    simulations at once. Returns the bytes per wave."""
    n = protocol.largest_grid()
    option = "--sampling" if protocol.sampling is not None else "--grid"
    if n > MAX_GRID:
        raise SimulationRunError(f"{option}: a {n} x {n} grid is over the limit of {MAX_GRID}; "
                                 "choose a coarser one")
    need = n * n * BYTES_PER_PIXEL
    free = available_memory(device if backend == "torch" else "cpu")
    if backend in ("numpy", "torch", "abtem") and free is not None and need * workers > free:
        raise SimulationRunError(
            f"{option}: a {n} x {n} grid needs ~{need / 2**30:.1f} GiB per simulation x "
            f"{workers} worker(s), but {free / 2**30:.1f} GiB is available; choose a coarser "
            f"{option} or fewer --workers")
    return need


def _run_local(todo: list[WaveTask], args: tuple, crystals: dict[str, Crystal], bar) -> list[dict]:
    results = []
    for task in todo:
        results.append(run_task(task, *args, crystal=crystals.get(task.name)))
        bar.update(1)
    return results


def _default_workers(workers: Optional[int], scheduler: Optional[str]) -> int:
    """Worker processes to use: as asked, else one per core if Dask is installed, else 1."""
    if workers is not None or scheduler:
        if workers is not None and workers < 1:
            raise SimulationRunError(f"workers must be at least 1, got {workers}")
        return workers or 1
    if importlib.util.find_spec("distributed") is None:  # the 'sim' extra
        print("wemd: dask.distributed is not installed (pip install 'wemd[sim]'); simulating in "
              "this process.", file=sys.stderr)
        return 1
    return os.cpu_count() or 1


def _run_dask(todo: list[WaveTask], args: tuple, bar, workers: Optional[int],
              scheduler: Optional[str]) -> list[dict]:
    from wemd.errors import require

    distributed = require("distributed", "sim")
    cluster = None
    try:
        if scheduler:
            client = distributed.Client(scheduler, timeout="30s")
        else:
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                               processes=True, dashboard_address=None)
            client = distributed.Client(cluster)
    except (OSError, TimeoutError) as exc:
        raise SimulationRunError(f"cannot reach the Dask scheduler {scheduler!r} ({exc}); start "
                                 "one with `dask scheduler` or drop --scheduler") from exc
    results = []
    try:
        futures = {client.submit(run_task, task, *args, key=f"wemd-sim-{task.split}-{task.key}",
                                 pure=False): task for task in todo}
        for future in distributed.as_completed(futures):
            try:
                results.append(future.result())
            except Exception as exc:  # e.g. KilledWorker: a task that took its worker down
                results.append(_failure(futures[future], exc))
            bar.update(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results


def _clear_stale(folder: Path, keep: set[str], suffix: str) -> None:
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() and p.name.endswith(suffix) and p.name not in keep:
                p.unlink()


def _link(src: Path, dst: Path) -> None:
    """Place ``src`` at ``dst`` atomically (hard link where possible, else a copy)."""
    import shutil

    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def finalize(out: Path, variant: str, tasks: list[WaveTask], small: bool) -> dict[str, int]:
    """Lay staged results out as the loader reads them; returns the count per split."""
    done = [t for t in tasks if task_done(out, t)]
    counts = {s: sum(t.split == s for t in done) for s in SPLIT_ORDER}
    counts = {s: n for s, n in counts.items() if n}
    if small:
        total = len(done)
        meta_dir = out / "meta"
        keep = set()
        with atomic_path(out / f"{variant}.npy") as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                            shape=(total, SMALL, SMALL, 2))
            for row, task in enumerate(done):
                array_path, meta_path = _staged(out, task)
                arr[row] = np.load(array_path)
                meta = json.loads(meta_path.read_text())
                meta["row"] = row
                name = f"{row}-{task.name}.json"
                keep.add(name)
                write_json(_output(meta_dir, name), meta)
            arr.flush()
            del arr
        _clear_stale(meta_dir, keep, ".json")
        return counts
    for split in SPLIT_ORDER:
        items = [t for t in done if t.split == split]
        keep_npy, keep_meta = set(), set()
        for i, task in enumerate(items):
            array_path, meta_path = _staged(out, task)
            _link(array_path, out / split / f"{i}.npy")
            meta = json.loads(meta_path.read_text())
            meta["index"] = i
            write_json(_output(out / split / "meta", f"{i}-{task.name}.json"), meta)
            keep_npy.add(f"{i}.npy")
            keep_meta.add(f"{i}-{task.name}.json")
        _clear_stale(out / split, keep_npy, ".npy")
        _clear_stale(out / split / "meta", keep_meta, ".json")
    return counts


def _manifest_files(out: Path, variant: str, counts: dict[str, int], small: bool) -> dict:
    if small:
        paths = [out / f"{variant}.npy"] + sorted((out / "meta").glob("*.json"))
    else:
        paths = []
        for split in counts:
            paths += sorted((out / split).glob("*.npy")) + sorted((out / split / "meta").glob("*.json"))
    return file_entries(out, paths)


def simulate_dataset(cifs: Union[PathLike, Sequence[PathLike]], variant: str, out: PathLike, *,
                     backend: str = "numpy", workers: Optional[int] = None,
                     scheduler: Optional[str] = None, seed: int = 0,
                     protocol_overrides: Optional[dict[str, Any]] = None,
                     draws_per_cif: Optional[int] = None,
                     split_by: str = "journal",
                     split_map: Union[None, PathLike, dict[str, str]] = None,
                     cod_url: Optional[str] = None,
                     backend_options: Optional[dict[str, Any]] = None,
                     progress: bool = True, command: Optional[str] = None) -> dict[str, Any]:
    """Simulate a wavefunction variant from CIFs into ``out`` in the WEMD layout.

    ``cifs``: a folder of ``.cif`` files, a list of paths or COD ids (fetched with pooch from
    ``cod_url``, default ``$WEMD_COD_URL`` or the COD), or a text file listing them.
    ``workers``: N > 1 starts a Dask LocalCluster of N worker processes; ``None`` (default)
    does the same with one worker per core when ``dask.distributed`` is installed (the ``sim``
    extra), else runs here; 1 runs in this process. ``scheduler`` (``tcp://host:port``) uses an
    existing cluster instead, whose workers must see
    ``out`` on a shared filesystem. ``protocol_overrides`` replaces protocol fields, e.g.
    ``{"depth_nm": (1, 2), "width_nm": (1, 1.5), "grid": 128, "crop": 80}`` for a quick
    stand-in; the overrides are recorded in every metadata file and in ``wemd.json``.
    ``split_by``: "journal" (WEMD's journal table, any spelling; default) or "structure" (a
    hash of the structure, :mod:`~wemd.simulation.splits`); ``split_map``: a JSON file (or dict)
    journal -> split used instead of WEMD's table. The rule is recorded in every wave's metadata
    and in ``wemd.json``. ``protocol_overrides`` ``sim_grid`` / ``sampling`` (CLI ``--grid`` /
    ``--sampling``) simulate on a finer grid, recorded as non-standard; the memory they need is
    checked before any work.

    Re-running the same call resumes: finished tasks are skipped. Returns a summary with the
    split counts, the number of tasks run and skipped, and the failures.
    """
    from tqdm.auto import tqdm

    from wemd import __version__

    out = Path(out).resolve()  # absolute: Dask workers may run elsewhere on a shared filesystem
    existing = read_manifest(out) if (out / "wemd.json").is_file() else None
    if existing is not None and existing.dataset != variant:
        raise SimulationRunError(f"{out} already holds {existing.dataset!r}; simulate {variant} "
                                 "into another folder")
    if draws_per_cif is not None and (isinstance(draws_per_cif, bool)
                                      or not isinstance(draws_per_cif, int) or draws_per_cif < 1):
        raise SimulationRunError(f"--draws {draws_per_cif!r}: give at least 1 draw per CIF (or "
                                 "leave it out for the protocol's)")
    protocol, small = variant_protocol(variant, protocol_overrides)
    rule = make_split_rule(variant, split_by, split_map)  # a bad map fails before any work
    stored_shape = catalog_get(variant).item_shape
    if (small and protocol.crop < SMALL) or (not small and (protocol.crop,) * 2 != stored_shape):
        raise SimulationRunError(f"{variant} stores {stored_shape} items; crop {protocol.crop} "
                                 "cannot make them (keep crop 320 and grid >= 320)")
    if protocol.grid < protocol.crop:
        raise SimulationRunError(f"grid {protocol.grid} is smaller than the crop {protocol.crop}")
    if not protocol.standard_sampling:
        option = "--sampling" if protocol.sampling is not None else "--grid"
        check_finer_sampling(protocol)
        if protocol.sim_grid is not None and protocol.sim_grid % protocol.view_step:
            raise SimulationRunError(f"--grid {protocol.sim_grid}: must be a multiple of "
                                     f"{protocol.view_step}, so the stored {protocol.crop} px "
                                     f"view covers exactly the protocol's; e.g. --grid "
                                     f"{-(-protocol.sim_grid // protocol.view_step) * protocol.view_step}")
        if protocol.grid_for(protocol.width_nm[0] * 10.0) < protocol.grid:
            raise SimulationRunError(f"{option} gives a grid coarser than the protocol's "
                                     f"{protocol.grid} pixels; only finer sampling is supported")
        if backend == "cltem":
            raise SimulationRunError(f"{option} is not available with the cltem backend (clTEM "
                                     "sets its own grid); use numpy, torch or abtem")
    if backend_options is None:
        backend_options = {}
    workers = _default_workers(workers, scheduler)
    distributed = workers > 1 or bool(scheduler)
    if backend == "numpy" and "workers" not in backend_options:
        # one FFT thread per Dask worker process; all cores in a single process
        backend_options = {"workers": 1 if distributed else -1}
    if backend == "torch" and distributed and "workers" not in backend_options:
        backend_options = {**backend_options, "workers": 1}  # CPU threads per Dask worker
    _engine(backend, backend_options)  # fail fast on a missing extra, executable or device
    check_memory(protocol, backend, 1 if scheduler else workers,
                 str(backend_options.get("device", "cpu")))
    out.mkdir(parents=True, exist_ok=True)
    paths = [p.resolve() for p in resolve_cifs(cifs, out / ".cifs", cod_url)]
    crystals, failures = load_crystals(paths, rule)
    if not crystals:
        write_json(out / FAILURES, failures)
        raise SimulationRunError(f"none of the {len(paths)} CIFs can be simulated (see "
                                 f"{out / FAILURES})")
    tasks = plan_tasks(crystals, variant, protocol, seed, draws_per_cif,
                       run_id(variant, protocol, backend, backend_options, seed, rule))
    planned = {t.name for t in tasks}
    failures += [{"cif": path.name, "stage": "partition", "reason": unplanned_reason(c, rule, variant)}
                 for path, c in crystals if c.name not in planned]
    if not tasks:
        write_json(out / FAILURES, failures)
        journals = sorted({repr(c.journal[:80]) if c.journal else "none" for _, c in crystals})
        raise SimulationRunError(
            f"no CIF falls into a split of {variant} ({', '.join(catalog_get(variant).splits)}) "
            f"under the rule {rule.describe()}: their journals ({', '.join(journals[:5])}"
            f"{', ...' if len(journals) > 5 else ''}) are not in it. "
            + ("Add them to the map, or use --split-by structure (a hash of each structure)"
               if rule.map_source else "Use --split-by structure (a hash of each structure), "
               "or --split-map FILE (a JSON object journal -> split)"))
    todo = [t for t in tasks if not task_done(out, t)]
    args = (str(out), variant, protocol, small, backend, backend_options, rule)
    by_name = {c.name: c for _, c in crystals}
    results: list[dict] = []
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=f"simulate {variant}",
               unit="wave", disable=not progress, file=sys.stderr)
    try:
        if len(todo) > 1 and distributed:
            results = _run_dask(todo, args, bar, workers, scheduler)
        elif todo:
            results = _run_local(todo, args, by_name, bar)
    finally:
        bar.close()
        failures += [r for r in results if not r["ok"]]
        write_json(out / FAILURES, failures)
    counts = finalize(out, variant, tasks, small)
    if not counts:
        reasons = sorted({f["reason"] for f in failures if f.get("stage") == "simulate"})
        raise SimulationRunError(f"no exit wave could be simulated ({'; '.join(reasons[:3])}); "
                                 f"see {out / FAILURES}")
    generator = {"backend": backend, "seed": seed, "wemd": __version__, "command": command or
                 "wemd.simulation.simulate_dataset", "variant": variant,
                 "protocol": protocol.to_json(),
                 "protocol_overrides": protocol_overrides or {}, "cifs": len(crystals),
                 "split_rule": rule.to_json(), "standard_sampling": protocol.standard_sampling,
                 "potential_parametrisation": kirkland_citation(),
                 "rejected_cifs": sum(f.get("stage") == "cif" for f in failures),
                 "cifs_outside_the_splits": sum(f.get("stage") == "partition" for f in failures),
                 "failed_tasks": sum(f.get("stage") == "simulate" for f in failures),
                 "flagged_cifs": sum(f.get("stage") == "sanity" for f in failures)}
    manifest = Manifest(dataset=variant, provenance="simulated", splits=counts,
                        files=_manifest_files(out, variant, counts, small), generator=generator,
                        description=f"{variant} regenerated from {len(crystals)} CIFs with the "
                                    f"{backend} backend"
                                    + (" (protocol overridden)" if protocol_overrides else "")
                                    + ("" if rule.published else
                                       f"; custom split, not WEMD's: {rule.describe()}"))
    write_manifest(out, manifest)
    return {"splits": counts, "tasks": len(tasks), "ran": len(todo),
            "skipped": len(tasks) - len(todo), "failures": failures, "out": str(out)}
