"""CIFs of a handful of real crystal structures, for demos, tests and the synthetic mini-WEMD.

The structures are textbook ones (space group, lattice parameters and sites from the standard
references named in each CIF). The journal tags and ``_cod_database_code`` values are assigned
so that the set spans the WEMD partition (train, val and test journals); the ids use the
unassigned range below 1000000, so they can never be mistaken for real COD records.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Union

#: name -> (id, journal, formula, (a, b, c, alpha, beta, gamma), space group, sites, reference)
#: sites: (label, element, x, y, z, occupancy)
EXAMPLES: dict[str, tuple] = {
    "Si": ("0000001", "Inorganic Chemistry", "Si", (5.431, 5.431, 5.431, 90, 90, 90),
           "F d -3 m :1", [("Si1", "Si", 0, 0, 0, 1)],
           "diamond structure; a from Wyckoff, Crystal Structures vol. 1 (1963)"),
    "GaAs": ("0000002", "Journal of the American Chemical Society", "As Ga",
             (5.6533, 5.6533, 5.6533, 90, 90, 90), "F -4 3 m",
             [("Ga1", "Ga", 0, 0, 0, 1), ("As1", "As", 0.25, 0.25, 0.25, 1)],
             "zinc blende; a at 300 K"),
    "Au": ("0000003", "New Journal of Chemistry", "Au", (4.0782, 4.0782, 4.0782, 90, 90, 90),
           "F m -3 m", [("Au1", "Au", 0, 0, 0, 1)], "fcc gold; a at 298 K"),
    "Cu3Au": ("0000004", "American Mineralogist", "Au Cu3", (3.75, 3.75, 3.75, 90, 90, 90),
              "F m -3 m", [("M1", "Cu", 0, 0, 0, 0.75), ("M2", "Au", 0, 0, 0, 0.25)],
              "disordered (A1) Cu3Au above 663 K: one fcc site shared 3:1"),
    "MgO": ("0000005", "Physics and Chemistry of Minerals", "Mg O",
            (4.212, 4.212, 4.212, 90, 90, 90), "F m -3 m",
            [("Mg1", "Mg", 0, 0, 0, 1), ("O1", "O", 0.5, 0.5, 0.5, 1)], "periclase (rock salt)"),
    "TiO2": ("0000006", "Physics and Chemistry of Minerals", "O2 Ti",
             (4.5937, 4.5937, 2.9587, 90, 90, 90), "P 42/m n m",
             [("Ti1", "Ti", 0, 0, 0, 1), ("O1", "O", 0.3048, 0.3048, 0, 1)],
             "rutile; Burdett et al., J. Am. Chem. Soc. 109, 3639 (1987)"),
    "SrTiO3": ("0000007", "Chemistry of Materials", "O3 Sr Ti",
               (3.905, 3.905, 3.905, 90, 90, 90), "P m -3 m",
               [("Sr1", "Sr", 0, 0, 0, 1), ("Ti1", "Ti", 0.5, 0.5, 0.5, 1),
                ("O1", "O", 0.5, 0.5, 0, 1)], "cubic perovskite at room temperature"),
}

#: A structure with hydrogen, which the pipeline must reject (as the original study did).
REJECTED = {
    "MgOH2": ("0000008", "American Mineralogist", "H2 Mg O2", (3.142, 3.142, 4.766, 90, 90, 120),
              "P -3 m 1", [("Mg1", "Mg", 0, 0, 0, 1), ("O1", "O", 1 / 3, 2 / 3, 0.2216, 1),
                           ("H1", "H", 1 / 3, 2 / 3, 0.4303, 1)], "brucite"),
}


def cif_text(name: str, entry: tuple) -> str:
    """One CIF in COD style for an :data:`EXAMPLES` entry."""
    cod_id, journal, formula, (a, b, c, al, be, ga), group, sites, reference = entry
    lines = [f"# Written by wemd.simulation.examples: {name}, {reference}.",
             "# Journal tag and _cod_database_code assigned for the WEMD stand-in; not a COD record.",
             f"data_{cod_id}",
             f"_cod_database_code {cod_id}",
             f"_journal_name_full '{journal}'",
             f"_chemical_formula_sum '{formula}'",
             f"_symmetry_space_group_name_H-M '{group}'",
             f"_cell_length_a {a}", f"_cell_length_b {b}", f"_cell_length_c {c}",
             f"_cell_angle_alpha {al}", f"_cell_angle_beta {be}", f"_cell_angle_gamma {ga}",
             "loop_", "_atom_site_label", "_atom_site_type_symbol", "_atom_site_fract_x",
             "_atom_site_fract_y", "_atom_site_fract_z", "_atom_site_occupancy"]
    lines += [f"{label} {el} {x:.6f} {y:.6f} {z:.6f} {occ}" for label, el, x, y, z, occ in sites]
    return "\n".join(lines) + "\n"


def write_example_cifs(out_dir: Union[str, os.PathLike], names: Optional[Iterable[str]] = None,
                       include_rejected: bool = False) -> list[Path]:
    """Write CIFs of real structures (Si, GaAs, Au, Cu3Au, MgO, TiO2, SrTiO3) into ``out_dir``.

    Their journals put Si, GaAs, Au and Cu3Au (a mixed-occupancy site) in train, MgO and rutile
    TiO2 in val and SrTiO3 in test under :func:`wemd.catalog.journal_split`. ``names`` picks a
    subset; ``include_rejected`` adds brucite, Mg(OH)2, which contains hydrogen and is rejected.
    The single material of WEMD (In1.7K2Se8Sn2.28) is not included: its refined structure is
    not available here to write faithfully. Returns the paths, named ``{id}.cif``.
    """
    table = {**EXAMPLES, **(REJECTED if include_rejected else {})}
    chosen = list(names) if names is not None else list(table)
    unknown = [n for n in chosen if n not in table]
    if unknown:
        raise KeyError(f"unknown example structures {unknown}; choose from {list(table)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in chosen:
        path = out / f"{table[name][0]}.cif"
        path.write_text(cif_text(name, table[name]))
        paths.append(path)
    return paths
