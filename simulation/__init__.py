"""wemd.simulation: regenerate the WEMD exit wavefunctions from CIFs.

>>> from wemd.simulation import simulate_dataset, write_example_cifs
>>> cifs = write_example_cifs("cifs")                                        # doctest: +SKIP
>>> simulate_dataset("cifs", "wavefunctions_restricted", "out", workers=2)   # doctest: +SKIP

Modules: :mod:`~wemd.simulation.cif` (CIF reading, P1, screening, COD fetch),
:mod:`~wemd.simulation.protocol` (hyperparameter draws), :mod:`~wemd.simulation.geometry`
(clTEM-style supercells), :mod:`~wemd.simulation.physics` (Kirkland potentials, electron
optics), :mod:`~wemd.simulation.multislice` (the built-in engine),
:mod:`~wemd.simulation.backends` (numpy, abtem, cltem), :mod:`~wemd.simulation.postprocess`
and :mod:`~wemd.simulation.runner` (the resumable Dask driver).
"""

from wemd.simulation.backends import make_backend
from wemd.simulation.cif import Crystal, fetch_cod_cifs, read_cif
from wemd.simulation.examples import write_example_cifs
# not the multislice() function: that name would hide the wemd.simulation.multislice module
from wemd.simulation.multislice import Atoms, Grid
from wemd.simulation.protocol import (PROTOCOLS, QUICK_OVERRIDES, Protocol,
                                      sample_hyperparameters)
from wemd.simulation.runner import simulate_dataset

__all__ = ["Atoms", "Crystal", "Grid", "PROTOCOLS", "Protocol", "QUICK_OVERRIDES", "fetch_cod_cifs",
           "make_backend", "read_cif", "sample_hyperparameters", "simulate_dataset",
           "write_example_cifs"]
