"""wemd.simulation."""
