"""Curate a lab's own microscope files into a WEMD-style dataset: read, chain, partition, write.

``wemd curate SRC --kind stem|tem --name NAME --out HOME`` (or :func:`curate`) reads every DM3/DM4,
EMD, SER, MRC and TIFF file under SRC (:mod:`.readers`), runs the WEMD chain of its kind
(:mod:`.chain`), partitions whole groups of images with duplicates kept together
(:mod:`.partition`) and writes datasets that ``wemd.load``, ``wemd verify``, ``wemd export-hf``
and the benchmark tasks read like WEMD's own (:mod:`.build`). Per-file results are cached
(:mod:`.files`), so an interrupted run resumes.
"""

from wemd.curate.build import CurationResult, curate
from wemd.curate.chain import Rules
from wemd.curate.partition import parse_proportions

__all__ = ["CurationResult", "Rules", "curate", "parse_proportions"]
