"""Fixtures for interop tests: real peermind daemons (tests/node/nodeproc.py), always torn down."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

for _helpers in (Path(__file__).parent, Path(__file__).parent.parent / "node"):
    if str(_helpers) not in sys.path:  # --import-mode=importlib: make the helper modules importable
        sys.path.insert(0, str(_helpers))

from nodeproc import NodeCluster  # noqa: E402


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NodeCluster]:
    nodes = NodeCluster(tmp_path)
    try:
        yield nodes
    finally:
        nodes.stop_all()
