"""wemd.loaders: how a dataset folder on disk (or an export) becomes items, split by split.

- ``layouts``: one indexer per on-disk layout (``INDEXERS``); each finds the files of every split
  and checks the counts. ``wemd.api.load`` calls ``index_folder`` through ``open_folder``.
- ``sources``: the item readers behind a split. A ``Source`` maps positions 0..len-1 to items
  (``FileSource``, ``ArraySource``, ``RangeSource``, ``ConcatSource``) and holds only paths and
  ranges, so datasets pickle small. (Not to be confused with ``wemd.load(source=...)``, which
  names where a whole dataset comes from: ``local``, ``synthetic`` or ``hf``.)
- ``hf``: ``source="hf"``, reading a ``wemd export-hf`` folder or Hub repo through the encodings
  of ``wemd.export.encoding``; ``torch``: the PyTorch ``Dataset`` adapter.

Add a layout: write ``index_<layout>(spec, folder, counts) -> SplitIndex`` in ``layouts.py``,
register it in ``INDEXERS`` and name it in the dataset's ``layouts`` in ``wemd/catalog.py``.
"""
