"""CIF ingestion: read, expand to P1, screen, and fetch by COD id.

gemmi is the CIF library here, on evidence: it is already a core dependency; it reads and expands
a small CIF in ~0.1 ms where ase 3.29 takes ~8 ms (measured here on diamond Si; 12789 CIFs are
read once per draw on every worker); it accepts COD's Hermann-Mauguin symbols with an origin
choice ("F d -3 m :1"), which ase rejects; it merges the duplicate images of special positions
when expanding to P1 (``get_all_unit_cell_sites``) and keeps every site's occupancy, which the
mixed-site sampling needs.

CIFs are input from anyone, so :func:`screen` refuses what no real crystal can be, with the reason
(the run logs it and goes on): a missing cell (gemmi would silently assume a 1 A cube), lengths
that are not positive, angles outside (0, 180) degrees or with no volume, non-finite coordinates,
occupancies that are not probabilities, an atom density outside :data:`DENSITY_RANGE` and atoms
closer than :data:`MIN_DISTANCE` that could both be present. The names a CIF gives (its
``_cod_database_code``, else its file name) become output file names, so they go through
:func:`wemd.files.safe_filename`; a CIF whose name is unusable is refused, never renamed.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from wemd.catalog import journal_split
from wemd.errors import WEMDError
from wemd.files import UnsafeNameError, safe_filename, safe_join
from wemd.journals import journal_of
from wemd.simulation.physics import kirkland_table

#: The COD's address for one CIF is ``{base}{id}.cif``.
COD_BASE_URL = "https://www.crystallography.net/cod/"
#: Sites closer than this (Angstrom) in the expanded unit cell are one site with mixed occupancy.
SITE_TOLERANCE = 0.1
#: Positions closer than this (Angstrom) cannot both hold an atom: without hydrogen (excluded),
#: the shortest bonds in real crystals are ~1.1 A (N#N 1.10 A, C#O 1.13 A), so 0.5 A leaves a
#: factor of two. Closer positions are only allowed as alternatives (a mixed or split site).
MIN_DISTANCE = 0.5
#: Slack on occupancies for refinement rounding (e.g. split sites refined to 0.52 + 0.50).
OCCUPANCY_TOLERANCE = 0.05
#: Atoms per cubic Angstrom (occupancy-weighted) a real crystal can have. The top: diamond, the
#: densest solid at ambient pressure, has 0.176; high-pressure phases stay below twice that. The
#: floor: caesium (0.0086) and solid xenon (0.017) are among the least dense, open frameworks
#: lie above 0.03; a cell typed in pm instead of A is a million times below.
DENSITY_RANGE = (0.002, 0.35)
#: Longest crystal name (bytes): names become parts of output file names such as
#: ``{index}-{name}.json``, which must stay under the file system's 255 bytes.
MAX_CRYSTAL_NAME_BYTES = 200
#: Largest CIF read (the largest COD entries are a few MB).
MAX_CIF_BYTES = 50_000_000
#: Origin-free structure hashing compares (atoms of the rarest kind) x (atoms) positions: ~1 s
#: at this bound (2000 x 2000); beyond it a cell is hashed with its origin as written.
MAX_HASH_PAIRS = 4_000_000
#: Mass densities (g/cm^3) a hydrogen-free crystal can have: lithium, the lightest solid element,
#: has 0.53; osmium, the densest, 22.6.
MASS_DENSITY_RANGE = (0.4, 25.0)
#: Largest relative difference between the density the sites and cell give and the density the
#: CIF states (``_exptl_crystal_density_diffrn``), or the cell mass its formula and Z give: more
#: means a wrong cell, a wrong Z, or missing sites.
DENSITY_MISMATCH = 0.10
#: Least fraction of the cell that covalent-radius spheres (gemmi's radii) fill in a crystal of
#: metals only. Real metals and alloys fill 0.41 (Li) to ~1 (Sm, rare earths); alkali metals,
#: the emptiest, 0.41-0.53. A samarium entry whose cell gives 1.7 g/cm^3 instead of 7.5 fills
#: 0.22. Not applied with non-metals, whose open frameworks fill as little as 0.15.
METAL_MIN_PACKING = 0.3
#: The six CIF tags of a unit cell (Angstrom, degrees); gemmi needs all six.
CELL_TAGS = ("_cell_length_a", "_cell_length_b", "_cell_length_c",
             "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma")


class CIFError(WEMDError, ValueError):
    """A CIF that cannot be simulated; ``reason`` says why, for the failure log."""

    def __init__(self, source: str, reason: str):
        self.source, self.reason = source, reason
        super().__init__(f"{source}: {reason}")


@dataclass
class Crystal:
    """A P1 unit cell with mixed-occupancy sites, ready to tile.

    ``cell`` holds the lattice vectors a, b, c as rows (Angstrom). Site ``s`` can hold any of
    ``candidates[s]`` (atomic numbers) with the matching ``occupancies[s]``; a total below one
    leaves a vacancy with the remaining probability.
    """

    name: str
    cell: np.ndarray
    fractional: np.ndarray
    candidates: list[tuple[int, ...]]
    occupancies: list[tuple[float, ...]]
    journal: Optional[str] = None
    cod_id: Optional[str] = None
    formula: str = ""
    split: str = field(default="unassigned")
    #: :func:`plausibility` measures (density, packing, shortest distance, occupancy) and flags
    sanity: dict = field(default_factory=dict)

    @property
    def species(self) -> tuple[int, ...]:
        return tuple(sorted({z for c in self.candidates for z in c}))

    @property
    def has_mixed_sites(self) -> bool:
        return any(len(c) > 1 or sum(o) < 1 - 1e-6 for c, o in zip(self.candidates, self.occupancies))

    @property
    def volume(self) -> float:
        """The unit cell's volume in cubic Angstrom."""
        return float(abs(np.linalg.det(self.cell)))

    @property
    def atoms_per_cell(self) -> float:
        """Expected atoms per unit cell, as :func:`sample_occupancy` draws them."""
        return float(sum(min(sum(o), 1.0) for o in self.occupancies))


def printable_name(path: Union[str, os.PathLike]) -> str:
    """A file's name as text that always prints and encodes: bytes that are not UTF-8 (possible
    in POSIX file names) are shown as ``\\xNN``."""
    return os.fsencode(Path(path).name).decode("utf-8", "backslashreplace")


def structure_block(blocks: Sequence[Any], source: str) -> tuple[Any, Optional[str]]:
    """The one data block of a CIF that holds atom sites, and its journal: the block's own, else
    that of a block without sites (IUCr journals put it in ``data_global``). A CIF of several
    structures is refused (:class:`CIFError`): its items would share one id."""
    if not blocks:
        raise CIFError(source, "no data_ block: not a CIF")
    if len(blocks) == 1:
        return blocks[0], journal_of(blocks[0])
    sites = [i for i, b in enumerate(blocks) if len(b.find_values("_atom_site_fract_x"))]
    if len(sites) != 1:
        raise CIFError(source, f"{len(blocks)} data blocks, {len(sites)} with atom sites: one "
                               "structure per CIF file is read; split the file by data_ block")
    block = blocks[sites[0]]
    others = (journal_of(b) for i, b in enumerate(blocks) if i != sites[0])
    return block, journal_of(block) or next(filter(None, others), None)


def read_cif(path: Union[str, os.PathLike],
             split_of: Callable[[Optional[str]], str] = journal_split) -> Crystal:
    """Read one CIF into a P1 :class:`Crystal`, or raise :class:`CIFError` with the reason.

    Rejects structures containing hydrogen or deuterium (as the original study did), elements
    without Kirkland parameters, CIFs with no sites, what :func:`screen` refuses, and names
    (file name; ``_cod_database_code``, else the file name, which names the outputs) that are
    not safe file names, and what :func:`plausibility` finds implausible. The journal is
    :func:`wemd.journals.journal_of` (COD, ICSD and citation-loop tags; multi-line text fields
    made one line, control characters dropped); ``split_of`` maps it to a partition (default:
    the WEMD journal table, any spelling, :func:`wemd.catalog.journal_split`).
    """
    import gemmi

    path = Path(path)
    source = printable_name(path)
    try:
        safe_filename(path.name, "CIF file name")
    except UnsafeNameError as exc:
        raise CIFError(source, f"{exc} Rename the file.") from None
    try:
        if not path.is_file():  # opening a pipe would wait for a writer; a device never ends
            raise CIFError(source, "not a regular file (a folder, pipe or device)")
        with path.open("rb") as handle:
            raw = handle.read(MAX_CIF_BYTES + 1)
        if len(raw) > MAX_CIF_BYTES:
            raise CIFError(source, f"over {MAX_CIF_BYTES:,} bytes, more than any crystal "
                                   "structure CIF needs; not read")
        block, journal = structure_block(list(gemmi.cif.read_string(raw)), source)
        small = gemmi.make_small_structure_from_block(block)
    except OSError as exc:
        raise CIFError(source, f"cannot read the file ({exc.strerror or exc})") from exc
    except CIFError:
        raise
    except (RuntimeError, ValueError, IndexError) as exc:
        raise CIFError(source, f"unreadable CIF ({exc})") from exc

    def value(tag: str) -> Optional[str]:
        raw = block.find_value(tag)
        return gemmi.cif.as_string(raw) if raw not in (None, "?", ".") else None

    cod_id = value("_cod_database_code")
    name = cod_id or path.stem
    try:
        safe_filename(name, "CIF id (_cod_database_code, else the file name)")
    except UnsafeNameError as exc:
        raise CIFError(source, str(exc)) from None
    if len(name.encode("utf-8")) > MAX_CRYSTAL_NAME_BYTES:
        raise CIFError(source, f"CIF id {name[:40]!r}... is longer than {MAX_CRYSTAL_NAME_BYTES} "
                               "bytes; output file names are made from it: shorten it")
    formula = value("_chemical_formula_sum") or ""
    if any(re.fullmatch(r"[HD][\d.]*", token) for token in formula.split()):
        raise CIFError(source, f"formula {formula!r} contains hydrogen or deuterium; "
                               "excluded as in the original study")
    if small.spacegroup is None and not small.symops:
        raise CIFError(source, "no space group or symmetry operators; cannot expand to P1")
    sites = small.get_all_unit_cell_sites()
    if not len(sites):
        raise CIFError(source, "no atom sites")
    table = kirkland_table()
    numbers, frac, occ = [], [], []
    for site in sites:
        z = site.element.atomic_number
        symbol = site.type_symbol or site.element.name
        if z == 1:  # gemmi reads both H and D as Z = 1
            raise CIFError(source, f"contains hydrogen or deuterium (site {site.label}); "
                                   "excluded as in the original study")
        if z not in table:
            raise CIFError(source, f"element {symbol!r} (site {site.label}) has no Kirkland "
                                   "parameters")
        numbers.append(z)
        frac.append([site.fract.x % 1.0, site.fract.y % 1.0, site.fract.z % 1.0])
        occ.append(float(site.occ))
    matrix = np.array(small.cell.orth.mat.tolist()).T  # columns of orth are a, b, c
    parameters = [_number(block.find_value(tag)) for tag in CELL_TAGS]
    reason = screen(parameters, matrix, np.array(frac), np.array(occ), [s.label for s in sites])
    if reason:
        raise CIFError(source, reason)
    groups = group_sites(np.array(frac), matrix)
    fractional = np.array([np.array(frac)[g[0]] for g in groups])
    candidates = [tuple(numbers[i] for i in g) for g in groups]
    occupancies = [tuple(occ[i] for i in g) for g in groups]
    crystal = Crystal(name=name, cell=matrix, fractional=fractional,
                      candidates=candidates, occupancies=occupancies, journal=journal,
                      cod_id=cod_id, formula=formula, split=split_of(journal))
    stated = {"density_diffrn": _number(block.find_value("_exptl_crystal_density_diffrn")),
              "formula_units_z": _number(block.find_value("_cell_formula_units_Z"))}
    crystal.sanity, reason = plausibility(crystal, stated)
    if reason:
        raise CIFError(source, reason)
    return crystal


def _number(raw: Optional[str]) -> float:
    """A CIF number (standard uncertainty dropped); NaN where absent, '?', '.' or not a number."""
    import gemmi

    return math.nan if raw is None else float(gemmi.cif.as_number(raw))


def periodic_images(fractional: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Cartesian positions (Angstrom) of every site in the home cell and its 26 neighbours,
    neighbour-major: image ``13 * n + i`` is site ``i`` itself."""
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    return ((fractional[None, :, :] + shifts[:, None, :]).reshape(-1, 3)) @ cell


def screen(parameters: Sequence[float], cell: np.ndarray, fractional: np.ndarray,
           occupancies: np.ndarray, labels: Sequence[str]) -> Optional[str]:
    """Why a P1 structure cannot be a real crystal, or None if it can.

    ``parameters``: a, b, c (Angstrom), alpha, beta, gamma (degrees) as the CIF states them (NaN
    where missing); ``cell``: lattice vectors as rows; one row of ``fractional`` coordinates, one
    occupancy and one label per P1 site. Bounds: :data:`DENSITY_RANGE`, :data:`MIN_DISTANCE`,
    :data:`OCCUPANCY_TOLERANCE`.
    """
    from scipy.spatial import cKDTree

    params = np.asarray(parameters, dtype=np.float64)
    if not np.all(np.isfinite(params)):
        return ("no unit cell: the CIF needs numbers for all of " + ", ".join(CELL_TAGS)
                + " (without them gemmi assumes a 1 Angstrom cube)")
    lengths, angles = params[:3], params[3:]
    if np.any(lengths <= 0):
        return f"cell lengths {lengths.tolist()} must all be positive (Angstrom)"
    if np.any((angles <= 0) | (angles >= 180)):
        return f"cell angles {angles.tolist()} must each lie strictly between 0 and 180 degrees"
    cos = np.cos(np.radians(angles))
    shape = 1 - np.sum(cos ** 2) + 2 * np.prod(cos)  # (V / abc)^2
    if shape <= 0:
        return f"cell angles {angles.tolist()} give the cell no positive volume"
    bad = np.flatnonzero(~np.all(np.isfinite(fractional), axis=1))
    if len(bad):
        return f"non-finite coordinate at site {labels[bad[0]]} (check _atom_site_fract_*)"
    bad = np.flatnonzero(~(np.isfinite(occupancies) & (occupancies >= 0)
                           & (occupancies <= 1 + OCCUPANCY_TOLERANCE)))
    if len(bad):
        return (f"occupancy {occupancies[bad[0]]} of site {labels[bad[0]]} is not a probability "
                "(0 to 1)")
    density = occupancies.sum() / (np.prod(lengths) * math.sqrt(shape))
    if not DENSITY_RANGE[0] <= density <= DENSITY_RANGE[1]:
        return (f"density {density:.3g} atoms per cubic Angstrom is outside the range of real "
                f"crystals, {DENSITY_RANGE[0]} to {DENSITY_RANGE[1]} (diamond, the densest, "
                "has 0.176): check the cell lengths (Angstrom) and the sites")
    # every site and its neighbours within MIN_DISTANCE, periodic images included: together they
    # hold at most one atom, else two atoms would be closer than any real crystal has them
    n = len(fractional)
    positions = fractional @ cell
    images = periodic_images(fractional, cell)
    near = cKDTree(images).query_ball_point(positions, MIN_DISTANCE)
    for i, found in enumerate(near):
        total = occupancies[np.asarray(found) % n].sum()
        if total > 1 + OCCUPANCY_TOLERANCE:
            d = min(np.linalg.norm(images[j] - positions[i]) for j in found if j != 13 * n + i)
            return (f"atoms only {d:.2f} Angstrom apart at site {labels[i]} (occupancies summing "
                    f"to {total:.2f}); positions closer than {MIN_DISTANCE} Angstrom can only be "
                    "alternatives whose occupancies sum to at most 1: check the coordinates, "
                    "occupancies and cell")
    return None


def _formula_mass(formula: str) -> Optional[float]:
    """Mass (Dalton) of a ``_chemical_formula_sum`` such as 'Au Cu3' or 'O3 Sr Ti'; None when a
    token is not an element with an optional count."""
    import gemmi

    total = 0.0
    for token in formula.split():
        match = re.fullmatch(r"([A-Z][a-z]?)([0-9]*\.?[0-9]*)", token)
        element = gemmi.Element(match.group(1)) if match else None
        if element is None or element.atomic_number == 0:
            return None
        total += element.weight * (float(match.group(2)) if match.group(2) not in ("", ".") else 1.0)
    return total or None


def plausibility(crystal: Crystal, stated: dict[str, float]) -> tuple[dict, Optional[str]]:
    """Physical measures of a crystal, and why it cannot be real (None if it can).

    Measures: mass density (g/cm^3, occupancy-weighted gemmi masses over the cell volume), the
    fraction of the cell covalent spheres fill, the shortest distance between site positions
    (periodic, Angstrom; :func:`screen` has already refused atoms too close to coexist) and the
    largest occupancy sum of one site. Refused:
    a mass density outside :data:`MASS_DENSITY_RANGE`; one more than :data:`DENSITY_MISMATCH`
    away from the CIF's ``_exptl_crystal_density_diffrn``; a crystal of metals only filling
    less than :data:`METAL_MIN_PACKING`. Flagged (kept, listed in ``flags``): a cell mass more
    than :data:`DENSITY_MISMATCH` away from Z times the formula's mass (missing or extra sites).
    ``stated``: ``density_diffrn`` and ``formula_units_z`` from the CIF (NaN where absent).
    """
    import gemmi

    elements = {z: gemmi.Element(z) for z in crystal.species}
    mass = sum(o * elements[z].weight for zs, os_ in zip(crystal.candidates, crystal.occupancies)
               for z, o in zip(zs, os_))
    filled = sum(o * 4 / 3 * math.pi * elements[z].covalent_r ** 3
                 for zs, os_ in zip(crystal.candidates, crystal.occupancies)
                 for z, o in zip(zs, os_))
    volume = crystal.volume
    density = mass / volume * 1e24 / 6.02214076e23  # Dalton per cubic Angstrom -> g/cm^3
    measures: dict[str, Any] = {
        "density_g_cm3": round(density, 4), "packing_fraction": round(filled / volume, 4),
        "shortest_distance_A": _shortest_distance(crystal),
        "max_site_occupancy": round(max(sum(o) for o in crystal.occupancies), 4), "flags": []}
    lo, hi = MASS_DENSITY_RANGE
    if not lo <= density <= hi:
        return measures, (f"density {density:.3g} g/cm3 from the sites and cell is outside the "
                          f"range of real crystals ({lo} to {hi}): check the cell and the sites")
    stated_density = stated.get("density_diffrn", math.nan)
    if math.isfinite(stated_density) and stated_density > 0 \
            and abs(density / stated_density - 1) > DENSITY_MISMATCH:
        return measures, (f"density {density:.3g} g/cm3 from the sites and cell, but the CIF "
                          f"states {stated_density:.3g} (_exptl_crystal_density_diffrn): the cell "
                          "or the sites are wrong")
    if all(e.is_metal for e in elements.values()) and filled / volume < METAL_MIN_PACKING:
        return measures, (f"a crystal of metals only ({crystal.formula or 'from its sites'}) "
                          f"whose atoms fill {filled / volume:.2f} of the cell (density "
                          f"{density:.3g} g/cm3); real metals and alloys fill at least 0.4: the "
                          "cell is too large")
    z_units = stated.get("formula_units_z", math.nan)
    formula_mass = _formula_mass(crystal.formula) if crystal.formula else None
    if formula_mass and math.isfinite(z_units) and z_units > 0 \
            and abs(mass / (z_units * formula_mass) - 1) > DENSITY_MISMATCH:
        measures["flags"].append(
            f"cell mass {mass:.1f} Da from the sites, but Z = {z_units:g} times the formula "
            f"{crystal.formula!r} gives {z_units * formula_mass:.1f}: sites may be missing")
    return measures, None


def _shortest_distance(crystal: Crystal) -> float:
    """Shortest distance (Angstrom, 3 decimals) from a site to another site or a periodic image
    (the alternatives of a split site included)."""
    from scipy.spatial import cKDTree

    images = periodic_images(crystal.fractional, crystal.cell)  # 27 images: always a neighbour
    distances, _ = cKDTree(images).query(crystal.fractional @ crystal.cell, k=2)
    return round(float(distances[:, 1].min()), 3)


def structure_hash(crystal: Crystal) -> str:
    """A digest of the P1 structure, the same for CIFs that describe one crystal: cell lengths
    (0.001 A) and angles (0.01 degrees), and the sorted (Z, x, y, z, occupancy) of every site
    candidate (positions to 1e-4 of the cell, occupancies to 0.001). Names and journals are not
    part of it, nor is the origin: databases write one crystal in different origin choices
    (diamond Si at 0,0,0 in COD, at 1/8,1/8,1/8 in origin choice 2), so the positions are taken
    relative to each atom of the rarest (Z, occupancy) kind in turn and the smallest listing
    is hashed (for cells where that is over :data:`MAX_HASH_PAIRS`, the origin as written)."""
    lengths = np.linalg.norm(crystal.cell, axis=1)
    unit = crystal.cell / lengths[:, None]
    angles = np.degrees(np.arccos(np.clip([unit[1] @ unit[2], unit[0] @ unit[2], unit[0] @ unit[1]],
                                          -1, 1)))
    cell = " ".join(f"{v:.3f}" for v in lengths) + " " + " ".join(f"{v:.2f}" for v in angles)
    entries = [(z, xyz, o) for xyz, zs, occs in zip(crystal.fractional, crystal.candidates,
                                                    crystal.occupancies) for z, o in zip(zs, occs)]
    z = np.array([e[0] for e in entries], dtype=np.int64)
    occupancy = np.rint(np.array([e[2] for e in entries]) * 1000).astype(np.int64)
    positions = np.array([e[1] for e in entries], dtype=float).reshape(-1, 3)
    kinds, counts = np.unique(z * 10_000 + occupancy, return_counts=True)
    anchor = kinds[np.lexsort((-kinds, counts))[0]]  # rarest kind; ties: the heaviest
    origins = positions[z * 10_000 + occupancy == anchor]
    if len(origins) * len(positions) > MAX_HASH_PAIRS:  # bounded time: the origin as written
        origins = np.zeros((1, 3))
    best = None
    for origin in origins:
        grid = np.rint(((positions - origin) % 1.0) * 10_000).astype(np.int64) % 10_000
        table = np.column_stack([z, grid, occupancy])
        listing = table[np.lexsort(table.T[::-1])].tobytes()
        best = listing if best is None or listing < best else best
    return hashlib.sha256(cell.encode() + b"\n" + (best or b"")).hexdigest()


def group_sites(fractional: np.ndarray, cell: np.ndarray,
                tolerance: float = SITE_TOLERANCE) -> list[list[int]]:
    """Indices of sites sharing one position (periodic distance below ``tolerance`` Angstrom).

    Groups are the connected components of the "closer than tolerance" graph, found with a k-d
    tree over the sites and their 26 neighbouring images; ordered by their first site.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(fractional)
    images = periodic_images(fractional, cell)
    near = cKDTree(fractional @ cell).query_ball_tree(cKDTree(images), tolerance)
    rows = np.repeat(np.arange(n), [len(m) for m in near])
    cols = np.concatenate([np.asarray(m, dtype=np.int64) for m in near]) % n
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def sample_occupancy(crystal: Crystal, site_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Atomic number for each site instance (0: vacancy), drawn by occupancy as clTEM does."""
    n_sites = len(crystal.candidates)
    width = max(len(c) for c in crystal.candidates)
    z_table = np.zeros((n_sites, width + 1), dtype=np.int64)
    cum = np.ones((n_sites, width + 1))
    for s, (cands, occs) in enumerate(zip(crystal.candidates, crystal.occupancies)):
        total = sum(occs)
        p = np.asarray(occs) / max(total, 1.0)
        z_table[s, :len(cands)] = cands
        cum[s, :len(cands)] = np.cumsum(p)
        cum[s, len(cands):] = 1.0 + 1e-12  # vacancy takes what is left
    u = rng.random(len(site_index))
    choice = (u[:, None] >= cum[site_index]).sum(axis=1)
    return z_table[site_index, np.minimum(choice, width)]


def fetch_cod_cifs(ids: Sequence[str], folder: Union[str, os.PathLike],
                   base_url: Optional[str] = None, progress: bool = False) -> list[Path]:
    """Download CIFs by COD id into ``folder`` with pooch (cached: present files are reused).

    ``base_url`` defaults to ``$WEMD_COD_URL`` or the COD itself; each CIF is read from
    ``{base_url}{id}.cif``. With ``WEMD_OFFLINE=1`` only CIFs already in ``folder`` are used.
    """
    import pooch

    from wemd.fetch import OFFLINE_ENV, is_offline

    base = base_url or os.environ.get("WEMD_COD_URL") or COD_BASE_URL
    base = base if base.endswith("/") else base + "/"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for cod_id in ids:
        cod_id = str(cod_id).strip()
        if not re.fullmatch(r"[0-9]+", cod_id):
            raise CIFError(repr(cod_id), "a COD id is a number such as 1000041")
        target = safe_join(folder, f"{cod_id}.cif", "COD id", single=True)
        if is_offline() and not target.is_file():
            raise CIFError(cod_id, f"{OFFLINE_ENV}=1 forbids downloading it from {base}; unset "
                                   f"{OFFLINE_ENV} or put {target.name} into {folder}")
        try:
            path = pooch.retrieve(f"{base}{cod_id}.cif", known_hash=None, fname=target.name,
                                  path=folder, progressbar=progress)
        except Exception as exc:  # requests/HTTP errors come in many types
            raise CIFError(cod_id, f"download from {base}{cod_id}.cif failed ({exc}); check the "
                                   "address or set WEMD_COD_URL / --cod-url to a mirror") from exc
        out.append(Path(path))
    return out


def resolve_cifs(cifs: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
                 cache: Union[str, os.PathLike], base_url: Optional[str] = None) -> list[Path]:
    """CIF paths from a folder, a list of paths, COD ids, or a text file listing either."""
    items: list[str]
    if isinstance(cifs, (str, os.PathLike)):
        p = Path(cifs)
        if p.is_dir():
            return sorted(p.glob("*.cif"), key=lambda q: q.name)
        if p.is_file() and p.suffix.lower() != ".cif":
            items = p.read_text().split()
        else:
            items = [str(cifs)]
    else:
        items = [str(c) for c in cifs]
    paths, ids = [], []
    for item in items:
        if Path(item).suffix.lower() == ".cif" or Path(item).is_file():
            if not Path(item).is_file():
                raise CIFError(item, "no such CIF file")
            paths.append(Path(item))
        else:
            ids.append(item)
    if ids:
        paths += fetch_cod_cifs(ids, cache, base_url)
    if not paths:
        raise CIFError(str(cifs), "no CIFs found; give a folder of .cif files, paths or COD ids")
    return paths
