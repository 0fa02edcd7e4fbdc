"""Exports of the datasets in Hugging Face ``datasets`` form, and their Croissant metadata.

- ``encoding``: how each dataset's items are stored in a row and decoded back bit for bit.
- ``hf``: writing exports (``export_hf``: Parquet shards plus a card; ``to_hf``: a
  ``DatasetDict`` on memory-mapped Arrow files) and reading a card (``export_info``).
- ``hub``: ``publish`` an export to the Hub (with a dry run).
- ``croissant``: Croissant JSON-LD describing an export (and a mirror).

The reader, ``wemd.load(..., source="hf")``, is ``wemd.loaders.hf``; it decodes through the
same encodings.

Encodings (``encoding.encoding_for(spec)``; the first matching rule wins):

=================  ===============================================  ============================
encoding           datasets                                         data columns
=================  ===============================================  ============================
``CifText``        dtype str: cifs                                  cif, cod_id, journal, url
``ComplexWave``    dtype complex64: wavefunctions*                  wavefunction (float32 ..., 2),
                                                                    meta (JSON text)
``RawFloatImage``  no fixed shape (stem_full), or a 2-D stem/tem    image (float32 bytes),
                   shape (stem_crops, tem_full)                     shape (height, width)
``FloatArray``     any other fixed shape: *_96x96,                  image or wavefunction
                   wavefunctions_96x96*, focal_series               (ArrayND float32)
=================  ===============================================  ============================

Every row starts with ``id``, ``sha256``, ``data_sha256`` and ``provenance``
(``encoding.COMMON_FIELDS``).

To change or add a family's encoding: write (or pick) a subclass of ``encoding.Encoding`` with its
data Features, ``encode``, ``decode``, ``metadata`` columns, Croissant ``fields`` and
``item_bytes``; add its rule to ``encoding_for``; then check that items round-trip bit for bit
(``tests/test_hf.py``) and Croissant validates (``tests/test_croissant.py``). Export, reader and
Croissant need no other change. A new encoding changes the exported bytes of that family.

Importing this package imports neither ``datasets`` nor pyarrow.
"""
