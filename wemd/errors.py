"""One small exception hierarchy; every message names the problem and the fix."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable, Sequence


class WEMDError(Exception):
    """Base class of every error wemd raises on purpose."""


def close_matches(name: str, valid: Iterable[str]) -> list[str]:
    """Up to three known names closest to a misspelt one (for "did you mean" hints)."""
    return difflib.get_close_matches(name, list(valid), n=3, cutoff=0.4)


def did_you_mean(close: Sequence[str]) -> str:
    """" Did you mean 'a', 'b'?" for a non-empty list of close names, else ""."""
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


class UnknownNameError(WEMDError, KeyError):
    """An unknown name (dataset, task, method) whose message suggests the closest known ones."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class UnknownDatasetError(UnknownNameError):
    def __init__(self, name: str, close: Sequence[str], valid: Sequence[str]):
        self.name, self.close = name, list(close)
        super().__init__(f"Unknown dataset {name!r}.{did_you_mean(close)} Known datasets: "
                         f"{', '.join(valid)} (see `wemd list`).")


class UnknownSplitError(WEMDError, ValueError):
    def __init__(self, dataset: str, split: str, valid: Iterable[str]):
        self.split = split
        super().__init__(f"Dataset {dataset!r} has no split {split!r}; valid splits: "
                         f"{', '.join(valid)}.")


class DataMissingError(WEMDError, FileNotFoundError):
    def __init__(self, dataset: str, expected: Path, how: str):
        self.expected = Path(expected)
        super().__init__(f"No data for {dataset!r} at {expected}. {how}")


class LayoutError(WEMDError, ValueError):
    """Files are present but in no layout the catalog accepts."""


class CountMismatchError(WEMDError, ValueError):
    def __init__(self, dataset: str, where: str, found: int, expected: int, hint: str = ""):
        self.found, self.expected = found, expected
        super().__init__(f"{dataset}: {where} holds {found} items but {expected} are expected. "
                         + (hint or "Complete the copy (see `wemd verify`), or declare a subset "
                            "with a manifest (wemd.json, provenance 'subset')."))


class CorruptFileError(WEMDError, OSError):
    def __init__(self, path: Path, reason: str):
        self.path = Path(path)
        super().__init__(f"Corrupt or unreadable file {path}: {reason}. Delete it and fetch or "
                         "place it again, then run `wemd verify`.")


class ManifestError(WEMDError, ValueError):
    """A wemd.json manifest is malformed or contradicts the catalog."""


class MissingExtraError(WEMDError, ImportError):
    def __init__(self, module: str, extra: str):
        super().__init__(f"This needs the optional dependency {module!r}: "
                         f"pip install 'wemd[{extra}]'")


def require(module: str, extra: str):
    """Import an optional dependency or raise an error naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module, extra) from exc
