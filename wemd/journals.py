"""Journal names compared by what identifies them, whatever their spelling.

CIFs name the same journal in many spellings ("Acta Cryst. B", "ACTA CRYSTALLOGRAPHICA, Section
B", "Acta Crystallographica Section B: Structural Science"). :func:`journal_key` drops case,
punctuation and whitespace, a subtitle after a colon and filler words (of, the, and, section,
part), and reduces every word to its ISO 4 abbreviation, so all three are one journal. The one
rule for the fact "which journal is this": the catalog's partition
(:func:`wemd.catalog.journal_split`, used by the CIF loader) and ``wemd simulate``
(:mod:`wemd.simulation.splits`) both use it. :func:`clean_journal` makes a journal read from a
CIF safe to store and print; :func:`journal_of` finds it in a CIF block (COD, ICSD and
citation-loop styles).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import gemmi

#: Journal names are cut here (a CIF field can hold megabytes).
MAX_JOURNAL_CHARS = 500

#: Tags naming the journal, in order of preference (COD uses the first; others the citation loop).
JOURNAL_TAGS = ("_journal_name_full", "_citation_journal_full", "_journal_name_abbrev",
                "_citation_journal_abbrev")
#: Words journal titles use, with their ISO 4 (List of Title Word Abbreviations) forms; an
#: abbreviation maps to itself. Words not listed are compared as written.
ISO4 = {
    "journal": "j", "american": "am", "chemical": "chem", "chemistry": "chem", "chemie": "chem",
    "society": "soc", "inorganic": "inorg", "organic": "org", "physics": "phys",
    "physical": "phys", "materials": "mater", "material": "mater", "minerals": "miner",
    "mineralogist": "mineral", "mineralogy": "mineral", "mineralogical": "mineral",
    "crystallographica": "cryst", "crystallography": "cryst", "crystallographic": "cryst",
    "crystal": "cryst", "crystals": "cryst", "zeitschrift": "z", "kristallographie": "kristallogr",
    "structural": "struct", "structure": "struct", "communications": "commun",
    "communication": "commun", "letters": "lett", "review": "rev", "reviews": "rev",
    "european": "eur", "international": "int", "applied": "appl", "science": "sci",
    "sciences": "sci", "research": "res", "compounds": "compd", "transactions": "trans",
    "angewandte": "angew", "anorganische": "anorg", "allgemeine": "allg", "canadian": "can",
    "magazine": "mag", "advanced": "adv", "royal": "r", "engineering": "eng",
    "condensed": "condens", "nature": "nat", "bulletin": "bull", "proceedings": "proc",
    "national": "natl", "academy": "acad", "academie": "acad", "comptes": "c", "rendus": "r",
    "solid": "solid", "state": "state", "alloys": "alloys", "dalton": "dalton",
    "crystengcomm": "crystengcomm", "growth": "growth", "design": "des", "new": "new",
    "acta": "acta", "chimica": "chim", "geochimica": "geochim", "cosmochimica": "cosmochim",
    "petrology": "petrol", "japan": "jpn",
    "japanese": "jpn", "british": "br", "french": "fr", "german": "ger", "polyhedron": "polyhedron",
}
#: Words that carry no identity in a journal title.
FILLER = {"of", "the", "and", "section", "part", "fur", "für", "de", "la", "le", "des", "et"}


def clean_journal(text: Optional[str]) -> Optional[str]:
    """A journal name as stored and shown: control and format characters (terminal escapes,
    bidi overrides, zero-width marks) dropped, whitespace (multi-line CIF text fields) made
    single spaces, cut at :data:`MAX_JOURNAL_CHARS`; None when nothing is left."""
    if not text:
        return None
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch
                   for ch in text[:4 * MAX_JOURNAL_CHARS])
    return " ".join(text.split())[:MAX_JOURNAL_CHARS].rstrip() or None


def journal_key(journal: Optional[str]) -> str:
    """A journal name reduced to what identifies it (see the module docstring); '' for none."""
    if not journal:
        return ""
    text = journal[:MAX_JOURNAL_CHARS].lower().replace("&", " and ")
    text = text.split(":", 1)[0]  # "Acta Cryst. B: Structural Science" -> the journal
    words = re.sub(r"[^\w]+", " ", text).split()
    return " ".join(ISO4.get(w, w) for w in words if w not in FILLER)


def journal_of(block: gemmi.cif.Block) -> Optional[str]:
    """The journal of a gemmi CIF block: the first of :data:`JOURNAL_TAGS` with a value. In a
    citation loop (ICSD, CIF dictionaries) that is the row whose ``_citation_id`` is
    ``primary``, else the first row. Cleaned by :func:`clean_journal`."""
    import gemmi

    for tag in JOURNAL_TAGS:
        values = [gemmi.cif.as_string(v) for v in block.find_values(tag)]
        ids = [gemmi.cif.as_string(v).lower() for v in block.find_values("_citation_id")]
        if tag.startswith("_citation") and len(ids) == len(values) and "primary" in ids:
            values.insert(0, values[ids.index("primary")])
        journal = next(filter(None, map(clean_journal, values)), None)
        if journal:
            return journal
    return None
