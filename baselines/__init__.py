"""wemd.baselines: the reference models of the benchmark tasks, scored by ``wemd.leaderboard``.

- ``classical``: the registry of classical methods per task family (``denoise``, ``completion``,
  ``supersample``, ``phase`` hold the algorithms; ``spectral`` the Fourier-domain Wiener filter);
  ``run``: stream a task's instances through one and score them (``run_baseline``).
- ``models`` (reference networks), ``alrc`` (ALRC / CLRC / DALRC), ``training`` (``wemd train``),
  ``alrc_study`` (the ALRC paper's protocol), ``pretrained`` (export and load trained weights).

Add a classical baseline: write the function in its family module and register it in
``classical.py``; add a network: define it in ``models.py`` and name it in ``MODELS`` there.
"""

from wemd.baselines.pretrained import load_pretrained  # noqa: F401  (wemd.baselines.load_pretrained)
from wemd.baselines.run import evaluate_method, run_baseline  # noqa: F401
