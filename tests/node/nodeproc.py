"""Real node daemons for integration tests: one OS process each, on loopback, port 0.

A node is started with the same command a user types (``python -m peermind.node.cli
node run ...``) and found through its ``DATA_DIR/node.json``; tests talk to it over its
HTTP API and stop it with signals. ``NodeCluster.stop_all`` (called from fixtures'
``finally``) leaves no process behind: SIGTERM, then SIGKILL of the process group.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from proc_helpers import peermind, wait_for  # shared with every real-process test; re-exported here

__all__ = ["DETERMINISTIC_TRUST", "NodeCluster", "NodeExited", "NodeProc", "peermind", "wait_for"]

READY_TIMEOUT_S = 90.0
DETERMINISTIC_TRUST = ("--set", "trust.canary_rate=0", "--set", "trust.probe_interval_s=0", "--set", "trust.cross_check_rate=0",
                       "--set", "trust.request_rate=50", "--set", "trust.request_burst=50",
                       "--set", "router.learn_interval_s=0")


class NodeExited(AssertionError):
    """The node process ended while a test waited for it."""


@dataclass
class NodeProc:
    name: str
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    token: str | None = None
    state: dict[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------- facts
    @property
    def api_url(self) -> str:
        return str(self.state["api_url"])

    @property
    def peer_id(self) -> str:
        return str(self.state["peer_id"])

    @property
    def addrs(self) -> list[str]:
        return list(self.state["addrs"])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # -------------------------------------------------------------- life
    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> NodeProc:
        path = self.data_dir / "node.json"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise NodeExited(f"{self.name} exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                state = None
            if state and state.get("pid") == self.pid:
                self.state = state
                return self
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready after {timeout_s:.0f}s:\n{self.log_tail()}")

    def send(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{self.name} still running {timeout_s:.0f}s after being told to stop:\n{self.log_tail()}") from exc

    def kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    # -------------------------------------------------------------- API
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.api_url + path, headers=self.headers(), timeout=kw.pop("timeout", 30.0), **kw)

    def post(self, path: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
        return httpx.post(self.api_url + path, json=body, headers=self.headers(), timeout=kw.pop("timeout", 120.0), **kw)

    def peers(self) -> set[str]:
        return {p["peer_id"] for p in self.get("/peermind/peers").json()["peers"]}

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a Prometheus sample (all series matching ``labels``) from GET /metrics."""
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            if series.split("{")[0] != name:
                continue
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total

    def db_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read the node's SQLite store directly (WAL: safe while the node runs)."""
        conn = sqlite3.connect(f"file:{self.data_dir / 'node.db'}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


class NodeCluster:
    """Nodes under one temporary root, on one network unless told otherwise."""

    def __init__(self, root: Path, network: str | None = None) -> None:
        self.root = root
        self.network = network or f"t-{uuid.uuid4().hex[:8]}"
        self.nodes: list[NodeProc] = []

    def spawn(
        self,
        name: str,
        *,
        bootstrap: Sequence[str] = (),
        extra: Sequence[str] = (),
        network: str | None = None,
        model: str = "smollm2",
        token: str | None = None,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> NodeProc:
        """Start a node (does not wait); ``wait_ready()`` on the result."""
        data_dir = data_dir or self.root / name
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = data_dir / "node.log"
        cmd = [
            sys.executable, "-m", "peermind.node.cli", "node", "run",
            "--data-dir", str(data_dir),
            "--model", model,
            "--listen", "/ip4/127.0.0.1/tcp/0",
            "--api", "127.0.0.1:0",
            "--threads", "1",
            "--set", "ads.republish_s=5",
            # Trust's random extra tasks (canaries, cross-checks) and newcomer rate limits make
            # task counts and back-to-back requests nondeterministic; trust has its own tests.
            *DETERMINISTIC_TRUST,
        ]
        cmd += ["--network", network or self.network]
        for addr in bootstrap:
            cmd += ["--bootstrap", addr]
        cmd += list(extra)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PEERMIND_")}
        full_env.update(HF_HUB_OFFLINE="1", PEERMIND_LOG_LEVEL="info")
        if token:
            full_env["PEERMIND_API_TOKEN"] = token
        full_env.update(env or {})
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=full_env, start_new_session=True,
            )
        node = NodeProc(name, data_dir, log_path, proc, token=token)
        self.nodes.append(node)
        return node

    def start(self, name: str, **kw: Any) -> NodeProc:
        return self.spawn(name, **kw).wait_ready()

    def stop_all(self, grace_s: float = 15.0) -> None:
        running = [n for n in self.nodes if n.alive()]
        for node in running:
            try:
                node.send(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        for node in running:
            try:
                node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for node in self.nodes:
            node.kill_group()
