"""Shared fixtures: every test gets its own empty data home."""

import shutil

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty WEMD_HOME for one test."""
    path = tmp_path / "wemd_home"
    path.mkdir()
    monkeypatch.setenv("WEMD_HOME", str(path))
    return path


#: Debian's Chromium, driven by playwright (which never downloads a browser of its own here).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Without the background-networking flags Chromium keeps trying the closed network.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_tab(tmp_path):
    """A page in headless Chromium with its page errors collected in ``tab.errors``; the test is
    skipped when Chromium or playwright is missing."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright "
                                   "(its own browser download is not needed)")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1100, "height": 700})
        try:
            tab = context.new_page()
            tab.errors = []
            tab.on("pageerror", lambda e: tab.errors.append(str(e)))
            yield tab
        finally:
            context.close()
