"""Chunked array stores: zarr v3 and HDF5 copies of wemd datasets (convert, read, verify)."""
