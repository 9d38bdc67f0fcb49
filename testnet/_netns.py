"""Linux network namespaces joined by veth pairs: real, separate networks on one machine.

Each ``Topology`` names its namespaces and interfaces after a random run id, so parallel
runs never collide, and ``close()`` (also on failure, as a context manager) deletes every
namespace it made, which removes their veth ends and kills nothing else. Inside a
namespace only what a link provides is reachable: no forwarding, no default route, so two
namespaces that share no link (and no route) cannot reach each other at all. Needs root
and the ``ip`` tool; ``unavailable()`` says why not, for a clean skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from .errors import TestnetError


class NetnsError(TestnetError):
    """A namespace, link or route could not be set up."""


def unavailable() -> str | None:
    """Why namespaces cannot be used here (None: they can)."""
    if shutil.which("ip") is None:
        return "the `ip` tool (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"pmprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()[:200]}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip()[:300]}")


@dataclass
class Topology:
    """Namespaces by short name (``r``, ``a``, ...) and the links between them."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    namespaces: dict[str, str] = field(default_factory=dict)
    _links: int = 0

    def add(self, name: str) -> str:
        """Create namespace ``name`` (loopback up); returns its full name for ``ip netns exec``."""
        full = f"pm-{self.run_id}-{name}"
        _ip("netns", "add", full)
        self.namespaces[name] = full
        _ip("-n", full, "link", "set", "lo", "up")
        return full

    def link(self, left: str, left_cidr: str, right: str, right_cidr: str) -> None:
        """A veth pair between two namespaces, addressed ``left_cidr`` / ``right_cidr`` (e.g. 10.77.1.1/24)."""
        self._links += 1
        a, b = f"pm{self.run_id}{self._links}a", f"pm{self.run_id}{self._links}b"  # <= 15 characters
        _ip("link", "add", a, "type", "veth", "peer", "name", b)
        for dev, ns, cidr in ((a, self.namespaces[left], left_cidr), (b, self.namespaces[right], right_cidr)):
            _ip("link", "set", dev, "netns", ns)
            _ip("-n", ns, "addr", "add", cidr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")

    def address(self, name: str, cidr: str, device: str) -> None:
        """Add address ``cidr`` to ``device`` (e.g. ``lo``) in namespace ``name``."""
        _ip("-n", self.namespaces[name], "addr", "add", cidr, "dev", device)

    def route(self, name: str, destination: str, via: str) -> None:
        """In namespace ``name``, reach ``destination`` (an address or CIDR) through ``via``."""
        _ip("-n", self.namespaces[name], "route", "add", destination, "via", via)

    def exec_prefix(self, name: str) -> list[str]:
        """Prepend to a command to run it inside namespace ``name``."""
        return ["ip", "netns", "exec", self.namespaces[name]]

    def run(self, name: str, cmd: Sequence[str], *, timeout_s: float = 60.0,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` inside namespace ``name`` and wait for it."""
        return subprocess.run([*self.exec_prefix(name), *cmd], capture_output=True, text=True,
                              timeout=timeout_s, env=env)

    def close(self) -> None:
        """Delete every namespace made here (their veth ends go with them)."""
        for full in self.namespaces.values():
            subprocess.run(["ip", "netns", "del", full], capture_output=True)
        self.namespaces.clear()

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
