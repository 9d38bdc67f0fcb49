"""Nodes in separate network namespaces that meet only through a relay.

The layout (``_netns.Topology``): the relay ``r`` shares one veth link with every other
node, on its own /24 (10.77.<i>.0/24, the relay at .1, the node at .2). A node "behind a
NAT" listens instead on 10.77.9<i>.2, an address on its own loopback that nobody has a
route to: it connects out as 10.77.<i>.2, the way a NATed host's peers see its router's
address, so AutoNAT tells it ``private`` and it reserves on the relay by itself. ``r`` forwards
nothing and there is no default route, so two nodes have no route to each other until
``open_direct_path`` adds a veth link between them and host routes to each other's
listen address. Every node is a real ``peermind node run`` process inside its namespace;
the relay listens on a fixed port (namespaces have their own ports) so the others can be
started at the same time with its address. Everything the tests and the bench read comes
through the CLI (``peermind status``, ``peermind ask``), run inside the node's namespace,
where its API listens on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ._netns import Topology
from .errors import NodeDidNotStart, TestnetError

RELAY_PORT = 4001
READY_TIMEOUT_S = 120.0
QUIET = ("--set", "trust.canary_rate=0", "--set", "trust.probe_interval_s=0", "--set", "trust.cross_check_rate=0",
         "--set", "trust.request_rate=50", "--set", "trust.request_burst=50", "--set", "router.learn_interval_s=0",
         "--set", "ads.republish_s=2", "--set", "relay.upgrade_interval_s=1", "--no-join-training")


def peermind_cmd(*args: str) -> list[str]:
    """The ``peermind`` command as this interpreter runs it (same code, same virtualenv)."""
    return [sys.executable, "-m", "peermind.node.cli", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERMIND_")}
    env.update(HF_HUB_OFFLINE="1", PEERMIND_LOG_LEVEL="info")
    return env


@dataclass
class NetNode:
    """One node process in its namespace."""

    name: str
    ip: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    peer_id: str = ""

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.data_dir / "node.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass(frozen=True)
class Asked:
    """One question's answer as ``peermind ask`` printed it."""

    answered_by: str
    latency_ms: float
    text: str


class RelayNet:
    """A relay and nodes behind it, each in its own namespace; ``with RelayNet(root, ["a", "b"]) as net``."""

    def __init__(self, root: Path, names: Sequence[str], *, via_relay: Sequence[str] = (),
                 behind_nat: Sequence[str] = (), answerers: Sequence[str] = (), model: str = "smollm2") -> None:
        self.root = root
        self.names = list(names)
        self.answerers = set(answerers)  # run ``model``; the relay and the others are light nodes (--model none)
        self.via_relay = set(via_relay)  # forced: --relay-via
        self.behind_nat = set(behind_nat)  # detected: relay.via set, reachability auto
        self.model = model
        self.network = f"relay-{uuid.uuid4().hex[:6]}"
        self.topology = Topology()
        self.nodes: dict[str, NetNode] = {}
        self.relay_id = ""
        self._direct_links = 0

    # ------------------------------------------------------------------ life
    def __enter__(self) -> RelayNet:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        self.topology.add("r")
        for index, name in enumerate(self.names, start=1):
            self.topology.add(name)
            self.topology.link("r", f"10.77.{index}.1/24", name, f"10.77.{index}.2/24")
        relay_dir = self.root / "r"
        relay_dir.mkdir(parents=True, exist_ok=True)
        made = subprocess.run(peermind_cmd("keys", "show", "--data-dir", str(relay_dir)), capture_output=True,
                              text=True, env=_env(), timeout=60)
        if made.returncode != 0:
            raise TestnetError(f"could not create the relay's identity: {made.stderr.strip()[-300:]}")
        self.relay_id = made.stdout.strip().splitlines()[-1]
        relay_listen = [f"/ip4/10.77.{i}.1/tcp/{RELAY_PORT}" for i in range(1, len(self.names) + 1)]
        self._spawn("r", "10.77.1.1", relay_listen, ["--relay"], model="none")
        for index, name in enumerate(self.names, start=1):
            relay_addr = f"/ip4/10.77.{index}.1/tcp/{RELAY_PORT}/p2p/{self.relay_id}"
            extra = ["--bootstrap", relay_addr]
            ip = f"10.77.{index}.2"
            if name in self.via_relay:
                extra += ["--relay-via", relay_addr]
            if name in self.behind_nat:
                ip = f"10.77.9{index}.2"
                self.topology.address(name, f"{ip}/32", "lo")
                extra += ["--set", f"relay.via={relay_addr}", "--set", "relay.autonat_interval_s=2"]
            self._spawn(name, ip, [f"/ip4/{ip}/tcp/0"], extra, model=self.model if name in self.answerers else "none")
        for node in self.nodes.values():
            self._wait_ready(node)

    def _spawn(self, name: str, ip: str, listen: Sequence[str], extra: Sequence[str], *, model: str) -> None:
        data_dir = self.root / name
        data_dir.mkdir(parents=True, exist_ok=True)
        cmd = peermind_cmd("node", "run", "--data-dir", str(data_dir), "--model", model, "--threads", "1",
                           "--api", "127.0.0.1:0", "--network", self.network, *QUIET)
        for addr in listen:
            cmd += ["--listen", addr]
        cmd += list(extra)
        with open(data_dir / "node.log", "ab") as log:
            proc = subprocess.Popen([*self.topology.exec_prefix(name), *cmd], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=_env(), start_new_session=True)
        self.nodes[name] = NetNode(name, ip, data_dir, proc)

    def _wait_ready(self, node: NetNode) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                raise NodeDidNotStart(f"{node.name} exited with {node.proc.returncode}:\n{node.log_tail()}")
            try:
                node.peer_id = json.loads((node.data_dir / "node.json").read_text())["peer_id"]
                return
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        raise NodeDidNotStart(f"{node.name} not ready after {READY_TIMEOUT_S:.0f}s:\n{node.log_tail()}")

    def close(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL of its process group), then delete the namespaces."""
        for node in self.nodes.values():
            if node.proc.poll() is None:
                _signal_group(node.proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for node in self.nodes.values():
            try:
                node.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(node.proc, signal.SIGKILL)
                node.proc.wait(timeout=10)
        self.topology.close()

    # ------------------------------------------------------------------ network changes
    def open_direct_path(self, left: str, right: str) -> None:
        """A veth link between two nodes' namespaces and host routes to each other's listen address."""
        self._direct_links += 1
        subnet = f"10.78.{self._direct_links}"
        self.topology.link(left, f"{subnet}.1/24", right, f"{subnet}.2/24")
        self.topology.route(left, self.nodes[right].ip, f"{subnet}.2")
        self.topology.route(right, self.nodes[left].ip, f"{subnet}.1")

    # ------------------------------------------------------------------ the CLI, inside a namespace
    def cli(self, name: str, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        node = self.nodes[name]
        return self.topology.run(name, peermind_cmd(*args, "--data-dir", str(node.data_dir)),
                                 timeout_s=timeout_s, env=_env())

    def status(self, name: str) -> dict[str, Any]:
        done = self.cli(name, "status", timeout_s=30)
        if done.returncode != 0:
            raise TestnetError(f"peermind status on {name} failed: {done.stderr.strip()[-300:]}")
        return dict(json.loads(done.stdout))

    def path(self, name: str, peer: str) -> str:
        """``direct``, ``relay`` or ``none``: how node ``name`` reaches node ``peer`` now."""
        relay = self.status(name).get("relay") or {}
        return str(relay.get("paths", {}).get(self.nodes[peer].peer_id, "none"))

    def ask(self, name: str, question: str, *, peer: str, max_tokens: int = 8) -> Asked:
        """``peermind ask --peer`` on node ``name``, answered by node ``peer``."""
        done = self.cli(name, "ask", question, "--peer", self.nodes[peer].peer_id, "--max-tokens", str(max_tokens),
                        "--explain")
        if done.returncode != 0:
            raise TestnetError(f"peermind ask on {name} failed: {done.stderr.strip()[-400:]}")
        line = next((ln for ln in done.stderr.splitlines() if ln.startswith("— answered by ")), "")
        provenance = json.loads(done.stderr[done.stderr.index("\n{") + 1:]) if "\n{" in done.stderr else {}
        return Asked(line.split()[3] if line else "", float(provenance.get("latency_ms", 0.0)), done.stdout.strip())

    def wait_for(self, what: str, check: Any, timeout_s: float) -> None:
        """Poll ``check()`` (truthy = done) until ``timeout_s``; the failure names ``what``."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = check()
            except TestnetError as exc:
                last = exc
            if last is True:
                return
            time.sleep(0.5)
        raise TestnetError(f"{what} not within {timeout_s:.0f}s (last: {last!r})")


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
