"""wemd.loaders."""
