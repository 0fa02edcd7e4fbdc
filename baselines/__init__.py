"""wemd.baselines."""

from wemd.baselines.pretrained import load_pretrained  # noqa: F401  (wemd.baselines.load_pretrained)
