"""wemd.baselines."""
