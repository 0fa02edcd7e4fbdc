"""CLI for curate: filled in by its issue's work."""

from __future__ import annotations


def register(sub) -> None:
    """Add this topic's sub-commands (none yet)."""
