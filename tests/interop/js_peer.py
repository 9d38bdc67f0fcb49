"""Install and run the js-libp2p peer in ``tests/interop/js`` (Node.js + npm, versions pinned by its lock file).

The dependencies go into a cache directory named after the lock file's hash (``npm ci``
once; later runs reuse it), so the test tree stays clean and CI installs at most once per
lock change. ``PEERMIND_INTEROP_JS_CACHE`` overrides the cache root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).parent / "js"
SOURCES = ("peer.mjs", "polyfill.mjs")
MIN_NODE_MAJOR = 20
NPM_CI_TIMEOUT_S = 300.0


class JsPeerUnavailable(Exception):
    """Node.js or npm is missing or too old: the interop test cannot run here (a skip, not a failure)."""


def node_and_npm() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise JsPeerUnavailable("Node.js and npm are not installed (the js-libp2p interop peer needs both)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = int(version.lstrip("v").split(".")[0] or 0)
    if major < MIN_NODE_MAJOR:
        raise JsPeerUnavailable(f"Node.js {version} is older than {MIN_NODE_MAJOR}, which the js-libp2p peer needs")
    return node, npm


def cache_root() -> Path:
    override = os.environ.get("PEERMIND_INTEROP_JS_CACHE")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "peermind" / "interop-js"


def installed_peer(npm: str) -> Path:
    """A directory with ``node_modules`` for the lock file and fresh copies of the peer's sources."""
    lock = (JS_DIR / "package-lock.json").read_bytes()
    target = cache_root() / hashlib.sha256(lock + (JS_DIR / "package.json").read_bytes()).hexdigest()[:16]
    if not (target / "node_modules" / ".package-lock.json").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(JS_DIR / name, staging / name)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=staging,
                              capture_output=True, text=True, timeout=NPM_CI_TIMEOUT_S)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(f"npm ci failed in {staging} ({done.returncode}):\n{done.stderr[-2000:]}")
        shutil.rmtree(target, ignore_errors=True)  # an install cut short earlier
        try:
            staging.rename(target)
        except OSError:  # another run installed it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    for name in SOURCES:
        shutil.copy2(JS_DIR / name, target / name)
    return target


def run_peer(node: str, where: Path, *args: str, timeout_s: float) -> tuple[int, dict[str, Any], str]:
    """Run ``peer.mjs`` with ``args``; its exit code, its JSON report and its stderr."""
    done = subprocess.run([node, str(where / "peer.mjs"), *args], cwd=where, capture_output=True, text=True,
                          timeout=timeout_s, stdin=subprocess.DEVNULL)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise AssertionError(f"the js peer printed no report (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return done.returncode, json.loads(lines[-1]), done.stderr
