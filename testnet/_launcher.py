"""Start, watch and stop a local network of real node daemons, one OS process each.

Everything goes through the node's public surface: its command line to start, its
``node.json`` to learn the API address, its HTTP API to watch, and signals to stop or
fault it. A state file in the testnet directory lets ``status``/``down`` (and a second
``up`` after a crash) find the processes again.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from ._profiles import NodeSpec, plan
from .errors import ConvergenceTimeout, NodeDidNotStart, StaleState, TestnetError

STATE_FILE = "testnet.json"
READY_TIMEOUT_S = 180.0


def default_dir() -> Path:
    root = os.environ.get("PEERMIND_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "peermind")
    return Path(root) / "testnet"


@dataclass
class NodeInfo:
    name: str
    data_dir: str
    log: str
    pid: int
    model: str
    role: str = ""
    api_url: str = ""
    peer_id: str = ""
    addrs: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return self.api_url.removeprefix("http://")

    def alive(self) -> bool:
        return pid_alive(self.pid)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(Path(self.log).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


Progress = Callable[[str], None]


class Testnet:
    """A testnet rooted at ``directory`` (one sub-directory per node)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = Path(directory) if directory else default_dir()
        self.state_path = self.dir / STATE_FILE

    # ---------------------------------------------------------------- state
    def load(self) -> tuple[str, list[NodeInfo]]:
        try:
            data = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return "", []
        except ValueError as exc:
            raise StaleState(f"{self.state_path} is damaged ({exc}); remove it or run `peermind testnet down --dir {self.dir}`") from exc
        return data.get("network", ""), [NodeInfo(**n) for n in data.get("nodes", [])]

    def _save(self, network: str, nodes: list[NodeInfo]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"network": network, "nodes": [asdict(n) for n in nodes]}, indent=2))
        os.replace(tmp, self.state_path)

    # ---------------------------------------------------------------- up
    def up(
        self,
        n: int,
        *,
        profile: str = "mix",
        roles: list[str] | None = None,
        progress: Progress = lambda _m: None,
        extra_args: list[str] | None = None,
        timeout_s: float = READY_TIMEOUT_S,
    ) -> list[NodeInfo]:
        """Start ``n`` nodes and return once every node holds every other node's ad."""
        _network, existing = self.load()
        if existing:
            alive = [x for x in existing if x.alive()]
            if alive:
                raise TestnetError(
                    f"a testnet is already running in {self.dir} ({len(alive)} live nodes); "
                    f"run `peermind testnet down --dir {self.dir}` first"
                )
            progress(f"found stale state from a crashed run ({len(existing)} dead nodes): cleaning up")
            self.state_path.unlink(missing_ok=True)
        specs = plan(profile, n)
        roles = (roles or []) + [""] * (n - len(roles or []))
        network = f"testnet-{secrets.token_hex(3)}"
        self.dir.mkdir(parents=True, exist_ok=True)
        nodes: list[NodeInfo] = []
        started = time.monotonic()
        try:
            first = self._spawn(0, specs[0], roles[0], network, [], extra_args)
            nodes.append(first)
            self._save(network, nodes)
            self._wait_ready(first, timeout_s)
            progress(f"node-0 ready ({first.model}) {first.peer_id}")
            for i in range(1, n):
                nodes.append(self._spawn(i, specs[i], roles[i], network, first.addrs, extra_args))
                self._save(network, nodes)
            for node in nodes[1:]:
                self._wait_ready(node, timeout_s - (time.monotonic() - started))
                progress(f"{node.name} ready ({node.model}{', role ' + node.role if node.role else ''}) {node.peer_id}")
            self._save(network, nodes)
            self.wait_converged(nodes, timeout_s=max(30.0, timeout_s - (time.monotonic() - started)), progress=progress)
        except BaseException:
            self.down(progress=lambda _m: None)
            raise
        progress(f"{n} nodes up and converged in {time.monotonic() - started:.1f}s")
        return nodes

    def _spawn(self, i: int, spec: NodeSpec, role: str, network: str, bootstrap: list[str], extra: list[str] | None) -> NodeInfo:
        data_dir = self.dir / f"node-{i}"
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "node.json").unlink(missing_ok=True)
        log_path = data_dir / "node.log"
        entry = ["-m", "peermind.testnet.adversary", "--role", role] if role else ["-m", "peermind.node.cli"]
        cmd = [
            sys.executable, *entry, "node", "run",
            "--data-dir", str(data_dir),
            "--model", spec.model,
            "--listen", "/ip4/127.0.0.1/tcp/0",
            "--api", "127.0.0.1:0",
            "--network", network,
            "--threads", str(spec.threads),
            "--set", f"ads.cost_per_1k={spec.cost_per_1k}",
            "--set", f"ads.tags={','.join(spec.tags)}",
            "--set", "ads.republish_s=5",
        ]
        for addr in bootstrap:
            cmd += ["--bootstrap", addr]
        cmd += extra or []
        env = dict(os.environ, PEERMIND_LOG_LEVEL=os.environ.get("PEERMIND_LOG_LEVEL", "info"))
        env.pop("PEERMIND_API", None)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        return NodeInfo(name=f"node-{i}", data_dir=str(data_dir), log=str(log_path), pid=proc.pid, model=spec.model, role=role)

    def _wait_ready(self, node: NodeInfo, timeout_s: float) -> None:
        deadline = time.monotonic() + max(timeout_s, 1.0)
        state = Path(node.data_dir) / "node.json"
        while time.monotonic() < deadline:
            if not node.alive():
                raise NodeDidNotStart(f"{node.name} exited during start-up; its log ends with:\n{node.log_tail()}")
            if state.exists():
                try:
                    data = json.loads(state.read_text())
                except ValueError:
                    data = None
                if data and data.get("pid") == node.pid:
                    node.api_url, node.peer_id, node.addrs = data["api_url"], data["peer_id"], data["addrs"]
                    return
            time.sleep(0.1)
        raise NodeDidNotStart(f"{node.name} was not ready after {timeout_s:.0f}s; its log ends with:\n{node.log_tail()}")

    def wait_converged(self, nodes: list[NodeInfo], *, timeout_s: float = 60.0, progress: Progress = lambda _m: None) -> float:
        """Block until each live node holds a fresh ad from every other live node; returns seconds."""
        started = time.monotonic()
        deadline = started + timeout_s
        live = [x for x in nodes if x.alive()]
        want = {x.peer_id for x in live}
        missing: dict[str, set[str]] = {}
        with httpx.Client(timeout=5.0) as http:
            while time.monotonic() < deadline:
                missing = {}
                for node in live:
                    try:
                        seen = {p["peer_id"] for p in http.get(f"{node.api_url}/peermind/peers").json()["peers"]}
                    except (httpx.HTTPError, ValueError, KeyError):
                        seen = set()
                    lack = want - seen - {node.peer_id}
                    if lack:
                        missing[node.name] = lack
                if not missing:
                    return time.monotonic() - started
                time.sleep(0.2)
        detail = ", ".join(f"{k} lacks {len(v)}" for k, v in missing.items())
        raise ConvergenceTimeout(f"nodes did not see each other within {timeout_s:.0f}s ({detail})")

    # ---------------------------------------------------------------- faults
    def signal(self, name: str, sig: int) -> NodeInfo:
        _network, nodes = self.load()
        for node in nodes:
            if node.name == name or node.peer_id == name:
                try:
                    os.kill(node.pid, sig)
                except ProcessLookupError as exc:
                    raise TestnetError(f"{name} (pid {node.pid}) is not running") from exc
                return node
        raise TestnetError(f"no node named {name!r} in {self.dir}; see `peermind testnet status`")

    # ---------------------------------------------------------------- down
    def down(self, *, grace_s: float = 10.0, progress: Progress = lambda _m: None) -> int:
        """Stop every node (SIGTERM, then SIGKILL after ``grace_s``); returns how many were running."""
        _network, nodes = self.load()
        running = [x for x in nodes if x.alive()]
        for node in running:
            try:
                os.kill(node.pid, signal.SIGCONT)  # a paused node cannot handle SIGTERM
                os.kill(node.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(x.alive() for x in running):
            _reap()
            time.sleep(0.1)
        for node in running:
            if node.alive():
                progress(f"{node.name} did not stop in {grace_s:.0f}s: killing it")
                try:
                    os.killpg(node.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        _reap()
        self.state_path.unlink(missing_ok=True)
        return len(running)


def _reap() -> None:
    """Collect exited children so they do not linger as zombies in a long-lived parent."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
