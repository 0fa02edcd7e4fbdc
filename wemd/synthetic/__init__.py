"""Mini-WEMD: a physically simulated stand-in for every catalog dataset, in the real layouts.

``wemd.load(name, split, source="synthetic")`` builds it on first use into
``{data_home}/synthetic/{scale}-{seed}/{name}/`` (each folder with a ``wemd.json`` manifest of
provenance ``synthetic``) and loads it from there afterwards. ``wemd synth --out DIR`` writes
the same folders anywhere. Same scale and seed give the same bytes on every machine, whatever
the number of workers.

How each dataset is made (the content is simulated, the curation is the package's own):

* ``cifs``: CIFs of real structures (written with :mod:`wemd.simulation.examples`), journal-tagged
  so the journal partition gives the catalog's split proportions; ids in the unassigned COD range.
* ``stem_*``: HAADF / bright-field STEM images of those crystals, concatenated contributor by
  contributor and partitioned with :func:`wemd.curation.partition_by_contributor`; crops and
  96x96 variants by :mod:`wemd.curation`.
* ``tem_*``: CTEM phase-contrast images through a CTF, then :func:`wemd.curation.curate_tem`
  (images under 2500 counts/px are discarded, as in the real set).
* ``wavefunctions*``: :func:`wemd.simulation.simulate_dataset` on the CIFs with a shallower
  specimen (recorded in every metadata file); 96x96 variants resized from the n = 3 waves by
  :func:`wemd.simulation.postprocess.to_small`.
* ``focal_series``: 14-image quadratic defocus series of simulated exit waves.

Every dataset folder also holds ``synthetic_items.json``: per item what it shows (kind, detector,
structure, zone axis, specimen depth) and its pixel size in Angstrom (``pixel_size_A``; derived
items scale their source's, e.g. ``tem_96x96`` = ``tem_full`` x 2048 / 96).

The pieces:

* :mod:`wemd.synthetic.builder`: scales, the build driver (a file lock per folder, a process pool,
  staging folders moved into place once finished, manifests with sha256) and the
  ``source="synthetic"`` plugin (registered on import).
* :mod:`wemd.synthetic.families`: one builder per family group, their per-item jobs and the
  table of which datasets build together (``GROUPS``, ``BUILDERS``).
* :mod:`wemd.synthetic.images`: image formation (STEM, TEM, focal series) of the crystals read
  by :mod:`wemd.simulation.cif`; imported by the jobs only, so this import stays light.

Adding a dataset family: put its datasets (as named in :mod:`wemd.catalog`) into
``families.GROUPS`` as one group, in dependency order; write ``_build_<family>(ctx)``, which
writes each dataset into ``ctx.stage / name``, runs per-item work through ``ctx.map`` with one
:func:`item_rng` per item, and ends every dataset with ``ctx.finish(...)``; register it in
``families.BUILDERS``. Then bump ``build.SYNTH_VERSION`` so earlier builds are redone.
"""

from wemd.synthetic.builder import (ITEMS_FILE, LOCK_FILE, SCALES, SYNTH_VERSION, Scale,
                                  SyntheticBuildError, build, describe, item_rng, load_synthetic,
                                  synthetic_root)
from wemd.synthetic.families import structure_splits

__all__ = ["ITEMS_FILE", "LOCK_FILE", "SCALES", "SYNTH_VERSION", "Scale", "SyntheticBuildError",
           "build", "describe", "item_rng", "load_synthetic", "structure_splits",
           "synthetic_root"]
