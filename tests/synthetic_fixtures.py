"""One tiny synthetic mini-WEMD per test session, shared by the synthetic and quickstart tests.

Import ``tiny_root`` into a test module. The build goes to a fixed folder under pytest's base
temp dir, so a second module importing the fixture reuses the finished build instead of
simulating again.
"""

import pytest

SCALE, SEED = "tiny", 0


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """A data home holding the tiny synthetic build of every dataset (built once)."""
    from wemd.synthetic import build

    root = tmp_path_factory.getbasetemp() / "wemd-synthetic-home"
    build(root=root, scale=SCALE, seed=SEED, workers=2, progress=False)
    return root
