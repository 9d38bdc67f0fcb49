"""Helpers every real-process test shares: run the ``peermind`` CLI as a user would, and poll.

Importable from any test module: the root ``conftest.py`` puts ``tests/`` on ``sys.path``
(``--import-mode=importlib`` does not). ``tests/node/nodeproc.py`` re-exports both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from peermind.testnet._launcher import Testnet
from peermind.testnet._state import NodeInfo

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, OSError, ValueError, KeyError)
"""What a poll treats as "not yet": a node still starting or a file half written."""


def peermind(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the ``peermind`` CLI as a user would (no ``PEERMIND_*`` settings leak in from the test run)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PEERMIND_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "peermind.node.cli", *args],
        capture_output=True, text=True, timeout=timeout_s, env=full_env, stdin=subprocess.DEVNULL,
    )


def wait_for(predicate: Callable[[], Any], *, timeout_s: float = 30.0, interval_s: float = 0.1, what: str = "condition",
             transient: tuple[type[Exception], ...] = TRANSIENT_ERRORS) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after the timeout.

    An exception in ``transient`` counts as "not yet" (the last one is named on failure);
    pass ``transient=()`` to let every exception through.
    """
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except transient as exc:
            last_error, value = exc, None
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


@contextmanager
def cli_testnet(directory: Path, *up_args: str, timeout_s: float = 300.0) -> Iterator[tuple[Testnet, list[NodeInfo]]]:
    """``peermind testnet up UP_ARGS --dir DIRECTORY`` as a user runs it; yields the testnet and its nodes, then stops it."""
    testnet = Testnet(directory)
    try:
        done = peermind("testnet", "up", *up_args, "--dir", str(testnet.dir), timeout_s=timeout_s)
        assert done.returncode == 0, done.stderr[-3000:]
        _network, nodes = testnet.load()
        yield testnet, nodes
    finally:
        testnet.down(grace_s=5)
