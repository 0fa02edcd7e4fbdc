"""Seeing the 96x96 datasets (thesis ch. 2): embeddings, tSNE maps, an explorer page and search.

Modules, each with one job, lowest first:

- :mod:`~wemd.viz.embed`: picture prep (items -> min-max scaled [N, 96, 96] float32 images),
  the :class:`~wemd.viz.embed.Embedding` and ``Encoder`` types, PCA, the ``embed()`` dispatch,
  save/load of embeddings and ``load_images`` for a split.
- :mod:`~wemd.viz.vae`: the paper's VAE (config, network, loss, schedules, training, encoder).
  It builds on ``embed``; ``embed`` imports it only inside ``embed()`` and ``load_embedding()``,
  so there is no import cycle and torch stays optional.
- :mod:`~wemd.viz.tsne`: tSNE maps of latent means (plain or sigma-aware) and map scores;
  needs only arrays (``compare`` reaches for ``embed`` lazily).
- :mod:`~wemd.viz.maps`: embed + tSNE a split and draw the paper's two-panel PNG (uses
  ``embed``, ``vae`` for its config, and ``tsne``).
- :mod:`~wemd.viz.explorer`: a static HTML page over a map (uses ``maps``).
- :mod:`~wemd.viz.search`: nearest neighbours of a query in a cached embedding index (uses
  ``embed``; ``wemd.search`` is its old import path and still works).
- :mod:`~wemd.viz.examples`: the quickstart's figure, one example panel per dataset.

Adding an embedding method: write an encoder with ``method``, ``encode(images) -> (means,
sigmas or None)``, ``save(folder)`` and a ``load(folder)`` classmethod, plus a fit function that
returns an ``Embedding``, in its own module if it is more than a few lines (as ``vae`` is); then
name it in ``embed.METHODS``, dispatch to it in ``embed()`` and map it to its encoder in
``load_embedding()``; maps, the explorer and search then take it by name (the CLI's
``--embedding`` choices in :mod:`wemd.cli.viz` are listed there).

Importing this package imports none of its modules, nor torch, scikit-learn or openTSNE.
"""
