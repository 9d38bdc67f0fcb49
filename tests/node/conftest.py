"""Fixtures for the node's integration tests: real daemons, always torn down."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:  # --import-mode=importlib: make the helper module importable
    sys.path.insert(0, _HERE)

from nodeproc import NodeCluster  # noqa: E402


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NodeCluster]:
    """A fresh network name and data root; every node started through it is stopped after the test."""
    nodes = NodeCluster(tmp_path)
    try:
        yield nodes
    finally:
        nodes.stop_all()
