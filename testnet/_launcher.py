"""Start, watch and stop a local network of real node daemons, one OS process each.

Everything goes through the node's public surface: its command line to start, its
``node.json`` to learn the API address, its HTTP API to watch, and signals to stop or
fault it. A state file in the testnet directory lets ``status``/``down`` (and a second
``up`` after a crash) find the processes again; a lock file keeps two commands from
changing the same testnet at once.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from . import _faults
from ._links import CLEAN, LINKS_FILE, Link, LinkEntry, load_links, save_links
from ._profiles import NodeSpec, plan
from ._state import STATE_FILE, NodeInfo, load_state, pid_alive, save_state
from .errors import ConvergenceTimeout, NodeDidNotStart, StaleState, TestnetError

__all__ = ["READY_TIMEOUT_S", "STATE_FILE", "NodeInfo", "Progress", "Testnet", "default_dir", "pid_alive"]

READY_TIMEOUT_S = 180.0
LOCK_FILE = ".lock"
REPUBLISH_S_SMALL = 5.0
"""A small testnet's ad period: faults and load changes show within seconds (the node default is 20 s)."""
REPUBLISH_S_MAX = 20.0
"""The node's default ``ads.republish_s``: a large testnet never republishes faster than a real network."""
ADS_PER_S_BUDGET = 2.0
"""Periodic ads per second the whole testnet may send (each reaches every node several times)."""


def republish_s(nodes: int) -> float:
    """The ad period of a testnet of ``nodes`` nodes: 5 s up to 10 nodes, then the network's ads stay at ~2/s.

    At 5 s, every node of a 20-node testnet took in ~36 ad copies a second (each ad ~9 times)
    and spent 7-9% of a core idle on them, most of this machine's two cores, so the last nodes'
    start-up work queued behind gossip (docs/results/scale-*.md).
    """
    return min(REPUBLISH_S_MAX, max(REPUBLISH_S_SMALL, nodes / ADS_PER_S_BUDGET))

LIGHT_SEEDS_PER_MODEL = 2
"""Light nodes that join through each model node; in a large testnet the other light nodes join through them."""


def join_waves(models: int, light: int) -> list[tuple[list[int], str]]:
    """The order nodes 1.. start in, wave by wave, and whom each wave's nodes join through.

    Model nodes join through node-0 (``first``). Light nodes join once those are up, through
    the model nodes in turn: a single bootstrap for 50 nodes is a star that gossipsub prunes
    beyond degree_high, and most ads then never spread (docs/results/scale-50.md). In a large
    testnet only ``LIGHT_SEEDS_PER_MODEL`` light nodes per model node join that way; the rest,
    once those are up, join through them. A model node that 45 newcomers all joined through
    answered each newcomer's gossip set-up seconds late while it handled the others, and its
    ad exchange waited on it (a light newcomer's first ad reached anyone 9-18 s after it was
    ready, against about a second for one that first heard a light peer; docs/results/scale-s13.md).
    """
    model_ids = list(range(1, models))
    light_ids = list(range(max(1, models), models + light))
    seeds = LIGHT_SEEDS_PER_MODEL * max(1, models)
    if len(light_ids) <= 2 * seeds:
        return [(model_ids, "first"), (light_ids, "models")]
    return [(model_ids, "first"), (light_ids[:seeds], "models"), (light_ids[seeds:], "light seeds")]


EXEC_SETTLE_S = 0.2
"""How long a node that looked gone right after its spawn is given to show its command line."""


def _alive_after_exec(node: NodeInfo) -> bool:
    """Whether ``node``, which just looked gone, is alive after all.

    A 50-node bench run failed at node-0 right after its spawn: "exited during start-up"
    with nothing in its log, and the cleanup then found the same process alive as an
    orphan. The pid check (``process_is``) wants the data dir on the /proc command line,
    and ``Popen`` returns once the child's exec has begun, probably before the new
    program's arguments are readable there. A process that really exited stays gone; its
    exit status is reaped first (``_reap``) and fails the start at once.
    """
    time.sleep(EXEC_SETTLE_S)
    return node.alive()


Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


def default_dir() -> Path:
    root = os.environ.get("PEERMIND_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "peermind")
    return Path(root) / "testnet"


class Testnet:
    """A testnet rooted at ``directory`` (one sub-directory per node)."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path | str | None = None) -> None:
        self.dir = Path(directory).expanduser().absolute() if directory else default_dir()
        self.state_path = self.dir / STATE_FILE
        # Phases of the last successful ``up`` in seconds: all ready, then all ads seen.
        self.last_up: dict[str, float] = {}

    # ---------------------------------------------------------------- state
    def load(self) -> tuple[str, list[NodeInfo]]:
        return load_state(self.state_path)

    def _save(self, network: str, nodes: list[NodeInfo]) -> None:
        save_state(self.state_path, network, nodes)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One state-changing command per testnet directory at a time."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / LOCK_FILE, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TestnetError(f"another testnet command is changing {self.dir} right now; wait for it") from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def find(self, name: str) -> NodeInfo:
        """A node by name (node-1), peer ID, or a unique peer-ID prefix."""
        _network, nodes = self.load()
        exact = [n for n in nodes if name in (n.name, n.peer_id)]
        matches = exact or [n for n in nodes if n.peer_id and n.peer_id.startswith(name)]
        if len(matches) == 1:
            return matches[0]
        names = ", ".join(n.name for n in nodes) or "none"
        raise TestnetError(f"no single node {name!r} in {self.dir} (nodes: {names}); see `peermind testnet status`")

    def orphans(self, known: list[NodeInfo] | None = None) -> list[int]:
        """Live processes started for this directory's nodes that the state file does not list."""
        listed = {n.pid for n in known or []} | {n.fault_pid for n in known or []}
        prefix = str(self.dir / "node-")
        found = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            args = proc.info.get("cmdline") or []
            if proc.info["pid"] not in listed and proc.info["pid"] != os.getpid() and any(a.startswith(prefix) for a in args):
                found.append(proc.info["pid"])
        return found

    # ---------------------------------------------------------------- up
    def up(
        self,
        n: int,
        *,
        profile: str = "mix",
        roles: list[str] | None = None,
        progress: Progress = _quiet,
        extra_args: list[str] | None = None,
        timeout_s: float = READY_TIMEOUT_S,
        threads: int | None = None,
        node_args: list[list[str]] | None = None,
        light: int = 0,
        links: dict[str, Link] | None = None,
        converge: bool = True,
    ) -> list[NodeInfo]:
        """Start ``n`` model nodes and ``light`` light nodes (``--model none``, named after the
        model nodes) and return once every node holds every other node's ad.

        ``node_args[i]`` (optional) are extra ``node run`` arguments for node i alone. With
        ``links`` (node name -> Link, possibly empty) every node sits behind an emulated link
        (``_links.py``); nodes not named get a clean one, which ``fault degrade`` can change.
        ``converge=False`` returns once every node is ready (benchmarks time convergence themselves).

        Every ``up`` is a new network (new name, identities and stores; logs are kept). A
        state file whose nodes are all dead (a crashed run) is cleaned up; live nodes, or
        processes of this directory missing from the state file, are an error.
        """
        specs = plan(profile, n, light)
        roles = (roles or []) + [""] * (n - len(roles or []))
        if len(roles) > n:
            raise TestnetError(f"{len(roles)} adversary roles for {n} nodes; add nodes or fewer roles")
        roles += [""] * light  # light nodes are honest: they serve nothing to lie with
        n += light
        if any(roles) and importlib.util.find_spec("peermind.testnet.adversary") is None:
            raise TestnetError("adversary roles need peermind.testnet.adversary, which is not installed yet")
        with self._locked():
            self._clear_stale(progress)
            network = f"testnet-{secrets.token_hex(3)}"
            nodes: list[NodeInfo] = []
            started = time.monotonic()
            try:
                per_node = (node_args or []) + [[]] * n
                emulated = self._plan_links(n, links) if links is not None else None
                if emulated is not None:
                    per_node = [[*args, "--set", f"ads.announce=/ip4/127.0.0.1/tcp/{emulated[f'node-{i}'].proxy_port}"]
                                for i, args in enumerate(per_node[:n])]
                period = republish_s(n)
                first = self._spawn(0, specs[0], roles[0], network, [], [*(extra_args or []), *per_node[0]], threads,
                                    period)
                nodes.append(first)
                self._save(network, nodes)
                if emulated is not None:
                    self._start_links(emulated, nodes)
                self._wait_ready(first, timeout_s)
                progress(f"node-0 ready ({first.model}) {first.peer_id} in {time.monotonic() - started:.1f}s")
                if emulated is not None:
                    self._link_ready(emulated, first)

                def dial_addr(node: NodeInfo) -> list[str]:
                    if emulated is None:
                        return node.addrs
                    return [f"/ip4/127.0.0.1/tcp/{emulated[node.name].proxy_port}/p2p/{node.peer_id}"]

                for wave, through in join_waves(n - light, light):
                    hubs = [first] if through == "first" else [
                        x for x in nodes if (x.model == "none") == (through == "light seeds")] or [first]
                    for i in wave:
                        nodes.append(self._spawn(i, specs[i], roles[i], network, dial_addr(hubs[i % len(hubs)]),
                                                 [*(extra_args or []), *per_node[i]], threads, period))
                        self._save(network, nodes)
                    if emulated is not None:
                        self._start_links(emulated, nodes)
                    for node in nodes[-len(wave):] if wave else []:
                        self._wait_ready(node, timeout_s - (time.monotonic() - started))
                        if emulated is not None:
                            self._link_ready(emulated, node)
                        role = f", role {node.role}" if node.role else ""
                        progress(f"{node.name} ready ({node.model}{role}) {node.peer_id} at {time.monotonic() - started:.1f}s")
                self._save(network, nodes)
                ready_s = time.monotonic() - started
                remaining = max(30.0, timeout_s - ready_s)
                converged_s = self.wait_converged(nodes, timeout_s=remaining, progress=progress) if converge else 0.0
                self.last_up = {"ready_s": ready_s, "converge_s": converged_s, "total_s": time.monotonic() - started}
            except BaseException:
                self._stop(nodes_hint=nodes, progress=_quiet)
                raise
        progress(f"{n} nodes up and converged in {time.monotonic() - started:.1f}s")
        return nodes

    # ---------------------------------------------------------------- emulated links
    def _plan_links(self, n: int, links: dict[str, Link]) -> dict[str, LinkEntry]:
        unknown = sorted(set(links) - {f"node-{i}" for i in range(n)})
        if unknown:
            raise TestnetError(f"--link names {', '.join(unknown)}, but the nodes are node-0 .. node-{n - 1}")
        return {f"node-{i}": LinkEntry(pid=0, proxy_port=_free_port(), target_port=0, link=links.get(f"node-{i}", CLEAN))
                for i in range(n)}

    def _start_links(self, entries: dict[str, LinkEntry], nodes: list[NodeInfo]) -> None:
        """Record the nodes' pids and start the proxy once (it re-reads links.json)."""
        for node in nodes:
            entries[node.name].pid = node.pid
        _old, proxy_pid = load_links(self.dir)
        if not (proxy_pid and pid_alive(proxy_pid)):
            save_links(self.dir, entries)
            proxy_pid = _faults.start_link_proxy(self.dir, str(self.dir / "links.log"))
        save_links(self.dir, entries, proxy_pid)

    def _link_ready(self, entries: dict[str, LinkEntry], node: NodeInfo) -> None:
        entries[node.name].target_port = int(node.addrs[0].split("/tcp/")[1].split("/")[0])
        _old, proxy_pid = load_links(self.dir)
        save_links(self.dir, entries, proxy_pid)

    def degrade(self, name: str, link: Link) -> str:
        """Change a node's emulated link (a testnet started with ``--link``); open connections too."""
        with self._locked():
            node = self.find(name)
            entries, proxy_pid = load_links(self.dir)
            if node.name not in entries or not pid_alive(proxy_pid):
                raise TestnetError("this testnet has no emulated links: start it with `testnet up --link NODE:SETTINGS` "
                                   "(e.g. --link node-1:rtt=0ms) to degrade links later")
            entries[node.name].link = link
            save_links(self.dir, entries, proxy_pid)
            return f"degrade: {node.name} link now {link.describe()}"

    def _clear_stale(self, progress: Progress) -> None:
        network, existing = self.load()
        alive = [x for x in existing if x.alive()]
        if alive:
            raise TestnetError(
                f"a testnet is already running in {self.dir} ({len(alive)} live nodes: "
                f"{', '.join(x.name for x in alive)}); run `peermind testnet down --dir {self.dir}` first"
            )
        orphans = self.orphans(existing)
        if orphans:
            raise TestnetError(
                f"processes from an earlier testnet in {self.dir} are still running (pids "
                f"{', '.join(map(str, orphans))}) but not in its state file; "
                f"`peermind testnet down --dir {self.dir}` stops them"
            )
        if existing:
            progress(f"found state of a crashed run (network {network}, {len(existing)} dead nodes): recovering")
            for node in existing:
                if node.fault_running():
                    os.kill(node.fault_pid, signal.SIGTERM)
            self.state_path.unlink(missing_ok=True)

    def _spawn(self, i: int, spec: NodeSpec, role: str, network: str, bootstrap: list[str],
               extra: list[str] | None, threads: int | None, period_s: float = REPUBLISH_S_SMALL) -> NodeInfo:
        data_dir = self.dir / f"node-{i}"
        _fresh_data_dir(data_dir)
        log_path = data_dir / "node.log"
        n_threads = threads or spec.threads
        entry = ["-m", "peermind.testnet.adversary", "--role", role] if role else ["-m", "peermind.node.cli"]
        cmd = [
            sys.executable, *entry, "node", "run",
            "--data-dir", str(data_dir),
            "--model", spec.model,
            "--listen", "/ip4/127.0.0.1/tcp/0",
            "--api", "127.0.0.1:0",
            "--network", network,
            "--threads", str(n_threads),
            "--set", f"ads.cost_per_1k={spec.cost_per_1k}",
            "--set", f"ads.tags={','.join(spec.tags)}",
            "--set", f"ads.republish_s={period_s:g}",
        ]
        for addr in bootstrap:
            cmd += ["--bootstrap", addr]
        cmd += extra or []
        env = dict(os.environ, PEERMIND_LOG_LEVEL=os.environ.get("PEERMIND_LOG_LEVEL", "info"), HF_HUB_OFFLINE="1")
        env.pop("PEERMIND_API", None)
        with open(log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True)
        return NodeInfo(name=f"node-{i}", data_dir=str(data_dir), log=str(log_path), pid=proc.pid,
                        model=spec.model, role=role, threads=n_threads, cost_per_1k=spec.cost_per_1k)

    def _wait_ready(self, node: NodeInfo, timeout_s: float) -> None:
        deadline = time.monotonic() + max(timeout_s, 1.0)
        state = Path(node.data_dir) / "node.json"
        ended = ""
        while time.monotonic() < deadline:
            ended = _reap([node.pid]).get(node.pid, ended)
            if not node.alive() and (ended or not _alive_after_exec(node)):
                raise NodeDidNotStart(f"{node.name} {ended or 'exited'} during start-up; its log ({node.log}) ends with:\n"
                                      f"{node.log_tail()}")
            if state.exists():
                try:
                    data = json.loads(state.read_text())
                except ValueError:
                    data = None
                if data and data.get("pid") == node.pid:
                    node.api_url, node.peer_id, node.addrs = data["api_url"], data["peer_id"], data["addrs"]
                    return
            time.sleep(0.1)
        raise NodeDidNotStart(f"{node.name} was not ready after {timeout_s:.0f}s; its log ({node.log}) ends with:\n{node.log_tail()}")

    def wait_converged(self, nodes: list[NodeInfo], *, timeout_s: float = 60.0, progress: Progress = _quiet) -> float:
        """Block until each live node holds a fresh ad from every other live node; returns seconds."""
        started = time.monotonic()
        deadline = started + timeout_s
        live = [x for x in nodes if x.alive()]
        want = {x.peer_id for x in live}
        missing: dict[str, set[str]] = {}
        last_report = started
        # Nodes are asked at once: asked one after the other, a round over 20 busy nodes took
        # seconds, and that wait was counted as convergence time. Only nodes still lacking an ad
        # are asked again; once every node was complete, one round over all confirms it. Asking
        # all of them every 0.2 s made 20 nodes serve ~100 peer tables a second on the CPU whose
        # shortage was being measured.
        with httpx.Client(timeout=5.0) as http, ThreadPoolExecutor(min(16, len(live) or 1)) as pool:
            def lacks(node: NodeInfo) -> set[str]:
                try:
                    seen = {p["peer_id"] for p in http.get(f"{node.api_url}/peermind/peers").json()["peers"]}
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    seen = set()
                return want - seen - {node.peer_id}

            pending = live
            while time.monotonic() < deadline:
                confirming = not pending
                asked = live if confirming else pending
                missing = {node.name: lack for node, lack in zip(asked, pool.map(lacks, asked), strict=True) if lack}
                if confirming and not missing:
                    return time.monotonic() - started
                pending = [node for node in asked if node.name in missing]
                if not pending:
                    continue  # every node asked is complete: confirm over all at once
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    progress(f"waiting for ads: {sum(map(len, missing.values()))} missing across {len(missing)} nodes")
                time.sleep(0.2)
        detail = ", ".join(f"{k} lacks {len(v)}" for k, v in missing.items())
        raise ConvergenceTimeout(f"nodes did not see each other within {timeout_s:.0f}s ({detail})")

    # ---------------------------------------------------------------- faults
    def signal(self, name: str, sig: int) -> NodeInfo:
        node = self.find(name)
        if not node.alive():
            raise TestnetError(f"{node.name} (pid {node.pid}) is not running")
        if sig in (signal.SIGCONT, signal.SIGKILL, signal.SIGTERM) and node.fault_running():
            self.clear_fault(node.name)
        os.kill(node.pid, sig)
        if sig == signal.SIGKILL:
            _reap([node.pid])
        return node

    def start_fault(self, name: str, kind: str, *, factor: float = 3.0, seconds: float = 0.0,
                    period_s: float = _faults.DEFAULT_PERIOD_S) -> str:
        """Inject ``slow`` or ``drop`` into a node; returns a one-line description."""
        with self._locked():
            network, nodes = self.load()
            target = self.find(name)  # a name that is not there (or no testnet at all) is one line
            node = next(n for n in nodes if n.name == target.name)
            if not node.alive():
                raise TestnetError(f"{node.name} (pid {node.pid}) is not running")
            if node.fault_running():
                raise TestnetError(f"{node.name} already has fault {node.fault!r}; `testnet fault clear {node.name}` first")
            api_port = int(node.api.rsplit(":", 1)[-1]) if node.api else 0
            if kind == "drop" and seconds <= 0:
                dropped = _faults.drop_connections(node.pid, api_port)
                return f"drop: destroyed {dropped} peer connections of {node.name}; peers will redial"
            node.fault_pid = _faults.start_supervisor(
                kind, node.pid, node.data_dir, factor=factor, seconds=seconds, period_s=period_s,
                api_port=api_port, log_path=str(Path(node.data_dir) / "fault.log"),
            )
            node.fault = f"slow x{factor:g}" if kind == "slow" else "drop"
            if seconds > 0:
                node.fault += f" for {seconds:g}s"
            self._save(network, nodes)
            return f"{node.fault}: {node.name} (supervisor pid {node.fault_pid})"

    def clear_fault(self, name: str) -> str:
        """Stop a node's fault supervisor (if any) and make sure the node runs again."""
        network, nodes = self.load()
        target = self.find(name)
        node = next(n for n in nodes if n.name == target.name)
        cleared = node.fault or "no fault"
        if node.fault_running():
            os.kill(node.fault_pid, signal.SIGTERM)
            _wait_gone([node.fault_pid], 5.0)
        if node.alive():
            os.kill(node.pid, signal.SIGCONT)
        node.fault, node.fault_pid = "", 0
        self._save(network, nodes)
        return f"cleared {cleared} on {node.name}"

    def leftovers(self, nodes: list[NodeInfo]) -> list[str]:
        """What of ``nodes`` still exists after ``down``: live pids and listening ports (expect [])."""
        left = [f"pid {n.pid} ({n.name})" for n in nodes if n.alive()]
        ports = {int(a.split("/tcp/")[1].split("/")[0]) for n in nodes for a in n.addrs if "/tcp/" in a}
        ports |= {int(n.api.rsplit(":", 1)[1]) for n in nodes if n.api}
        ours = {n.pid for n in nodes}  # a port reused by someone else's process is no leak of ours
        listening = {c.laddr.port for c in psutil.net_connections(kind="tcp")
                     if c.status == psutil.CONN_LISTEN and (c.pid is None or c.pid in ours)}
        left += [f"port {p}" for p in sorted(ports & listening)]
        return left

    # ---------------------------------------------------------------- down
    def down(self, *, grace_s: float = 10.0, progress: Progress = _quiet) -> int:
        """Stop every node (SIGTERM, then SIGKILL after ``grace_s``); returns how many were running."""
        with self._locked():
            return self._stop(grace_s=grace_s, progress=progress)

    def _stop(self, *, grace_s: float = 10.0, progress: Progress = _quiet, nodes_hint: list[NodeInfo] | None = None) -> int:
        try:
            _network, nodes = self.load()
        except StaleState as exc:  # a damaged state file: find our processes by their command lines
            progress(f"{exc}; stopping this directory's node processes found by command line")
            nodes = []
        known = {n.pid: n for n in [*(nodes_hint or []), *nodes]}
        supervisors = [n.fault_pid for n in known.values() if n.fault_running()]
        for pid in supervisors:
            _signal(pid, signal.SIGTERM, group=False)
        _wait_gone(supervisors, 3.0)
        running = [n.pid for n in known.values() if n.alive()]
        orphans = self.orphans(list(known.values()))
        if orphans:
            progress(f"also stopping {len(orphans)} processes of this directory missing from the state file")
        targets = running + orphans
        for pid in targets:
            _signal(pid, signal.SIGCONT)  # a paused node cannot handle SIGTERM
            _signal(pid, signal.SIGTERM)
        if not _wait_gone(targets, grace_s):
            for pid in targets:
                if pid_alive(pid):
                    progress(f"pid {pid} did not stop in {grace_s:.0f}s: killing it")
                    _signal(pid, signal.SIGKILL)
            _wait_gone(targets, 5.0)
        try:
            _entries, proxy_pid = load_links(self.dir)
        except TestnetError:  # a damaged links file: the proxy exits by itself once the nodes are gone
            proxy_pid = 0
        if proxy_pid and pid_alive(proxy_pid) and _is_link_proxy(proxy_pid, self.dir):
            _signal(proxy_pid, signal.SIGTERM, group=False)
            if not _wait_gone([proxy_pid], 3.0):
                _signal(proxy_pid, signal.SIGKILL, group=False)
        (self.dir / LINKS_FILE).unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)
        return len(targets)


def _fresh_data_dir(data_dir: Path) -> None:
    """Empty a node directory but keep its logs: every ``up`` is a new network.

    New identities and stores (trust ledgers, bans from adversary runs, task logs, known
    peers) keep one run's state out of the next, so nothing survives except the logs
    (appended to, so earlier runs stay readable). Not needed for reconnection: a node
    restarted on its kept data dir finds its moved peers again (node/p2p/host.py ``dial``,
    tests/node/test_node_restart_new_port.py).
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for entry in data_dir.iterdir():
        if entry.suffix == ".log":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


def _free_port() -> int:
    """A port the OS just handed out and took back (the proxy binds it moments later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_link_proxy(pid: int, directory: Path) -> bool:
    """Only a proxy started for this directory is signalled (pids get reused)."""
    try:
        args = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return "peermind.testnet._link_proxy" in args and str(directory) in args


def _signal(pid: int, sig: int, *, group: bool = True) -> None:
    """Signal a node's whole process group (it leads its own session), else the pid."""
    try:
        if group and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pids: list[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        _reap(pids)
        if not any(pid_alive(p) for p in pids):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _reap(pids: list[int]) -> dict[int, str]:
    """Collect our own exited children (only these pids) so none lingers as a zombie; returns how
    each collected one ended ("exited with code 1", "was killed by SIGSEGV")."""
    ended: dict[int, str] = {}
    for pid in pids:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if done:
            ended[pid] = _how_it_ended(status)
    return ended


def _how_it_ended(status: int) -> str:
    """A wait status in words; a signal names itself (a SIGSEGV at start-up is most often llama.cpp
    built for instructions this machine cannot run: see scripts/setup.sh)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = " (a native crash: llama.cpp's build may not suit this CPU; rerun `make install`)" if name in (
            "SIGSEGV", "SIGILL", "SIGBUS") else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"

