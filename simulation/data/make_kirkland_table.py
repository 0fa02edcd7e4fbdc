"""Generate ``kirkland.json`` (run once; the output is committed).

The table is Kirkland's published fit of electron scattering factors (E. J. Kirkland, *Advanced
Computing in Electron Microscopy*, 2nd ed., Springer 2010, appendix C, table C.4). The numbers
were read from an installed abTEM's copy of that table and re-keyed by atomic number, with the
parameters of each element as ``a``, ``b``, ``c``, ``d`` (three terms each, Kirkland's order:
the i-th Lorentzian is a_i / (q^2 + b_i), the i-th Gaussian c_i exp(-d_i q^2), q in 1/Angstrom).

    python simulation/data/make_kirkland_table.py /path/to/abtem/parametrizations/data/kirkland.json
"""

import json
import sys
from pathlib import Path

CITATION = ("E. J. Kirkland, Advanced Computing in Electron Microscopy, 2nd edition, Springer, "
            "New York 2010, appendix C (table C.4): fit of the electron scattering factor "
            "f_e(q) = sum_i a_i/(q^2 + b_i) + c_i exp(-d_i q^2), q in 1/Angstrom, f_e in Angstrom.")


def main(source: str) -> None:
    raw = json.loads(Path(source).read_text())
    elements = {}
    for z, (symbol, (a, b, c, d)) in enumerate(raw.items(), start=1):
        elements[str(z)] = {"symbol": symbol, "a": a, "b": b, "c": c, "d": d}
    out = {"citation": CITATION, "units": {"a": "Angstrom^-1", "b": "Angstrom^-2",
                                           "c": "Angstrom", "d": "Angstrom^2"},
           "elements": elements}
    target = Path(__file__).with_name("kirkland.json")
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(elements)} elements to {target}")


if __name__ == "__main__":
    main(sys.argv[1])
