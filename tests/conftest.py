"""Shared fixtures: every test gets its own empty data home."""

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty WEMD_HOME for one test."""
    path = tmp_path / "wemd_home"
    path.mkdir()
    monkeypatch.setenv("WEMD_HOME", str(path))
    return path
