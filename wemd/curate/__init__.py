"""Curate a lab's own microscope files into a WEMD-style dataset: read, chain, partition, write."""
