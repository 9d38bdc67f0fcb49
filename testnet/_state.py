"""The testnet's state file and the checks that tie a recorded pid to a live node of ours.

The state file outlives crashes on purpose: it is how ``status``/``down`` (and a second
``up``) find processes again. A pid alone is not proof (the kernel reuses pids after a
reboot or a long time), so "ours" also means the process's command line names the
node's data directory; ``down`` never signals a process that fails that check.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from .errors import StaleState

STATE_FILE = "testnet.json"


@dataclass
class NodeInfo:
    """One node process as the launcher recorded it."""

    name: str
    data_dir: str
    log: str
    pid: int
    model: str
    role: str = ""
    api_url: str = ""
    peer_id: str = ""
    addrs: list[str] = field(default_factory=list)
    threads: int = 1
    cost_per_1k: float = 0.0
    fault: str = ""  # e.g. "slow x3" while a fault supervisor runs
    fault_pid: int = 0

    @property
    def api(self) -> str:
        return self.api_url.removeprefix("http://")

    def alive(self) -> bool:
        return process_is(self.pid, self.data_dir)

    def paused(self) -> bool:
        """True while the process is stopped (SIGSTOP), e.g. by ``fault pause`` or ``slow``."""
        return self.alive() and _proc_state(self.pid) in ("T", "t")

    def fault_running(self) -> bool:
        return bool(self.fault_pid) and process_is(self.fault_pid, self.data_dir)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(Path(self.log).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def pid_alive(pid: int) -> bool:
    """The pid names a running, non-zombie process (of anyone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _proc_state(pid) not in ("Z", "X", "")


def process_is(pid: int, marker: str) -> bool:
    """The pid is alive and one of its command-line arguments is ``marker`` (our data dir)."""
    if not pid_alive(pid):
        return False
    try:
        return marker in psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def _proc_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return ""


_FIELDS = {f.name for f in dataclasses.fields(NodeInfo)}


def load_state(path: Path) -> tuple[str, list[NodeInfo]]:
    """(network name, nodes) from the state file; ("", []) when there is none."""
    try:
        data = json.loads(path.read_text())
        nodes = [NodeInfo(**{k: v for k, v in n.items() if k in _FIELDS}) for n in data.get("nodes", [])]
        return str(data.get("network", "")), nodes
    except FileNotFoundError:
        return "", []
    except (ValueError, TypeError, AttributeError) as exc:
        raise StaleState(
            f"{path} is damaged ({exc}); stop any nodes by hand (see `ps`), then delete it"
        ) from exc


def save_state(path: Path, network: str, nodes: list[NodeInfo], extra: dict[str, Any] | None = None) -> None:
    """Write atomically, so a crash mid-write never leaves a half file for the next run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"network": network, **(extra or {}), "nodes": [asdict(n) for n in nodes]}, indent=2))
    os.replace(tmp, path)
