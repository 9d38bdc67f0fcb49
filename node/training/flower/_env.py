"""Where Flower's executables are and the environment every Flower process gets.

Flower phones home and installs dependencies unless told not to, and
``flower-superlink`` execs ``flower-superexec`` through PATH, so every child
gets: the venv's ``bin`` first on PATH, its own ``FLWR_HOME``,
``FLWR_TELEMETRY_ENABLED=0`` and ``FLWR_DISABLE_UPDATE_CHECK=1`` (the SuperLink
additionally runs with ``--disable-runtime-dependency-installation``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
EXECUTABLES = ("flower-superlink", "flower-supernode", "flwr")


def executable(name: str) -> Path:
    return BIN / name


def flower_available() -> bool:
    """True when this interpreter's environment has Flower's deployment executables."""
    return all(os.access(executable(name), os.X_OK) for name in EXECUTABLES)


SUPEREXEC_POLL_S = 0.1
"""Seconds between a SuperExec's task polls (Flower's default 1.0; its minimum 0.01)."""


def flower_env(flwr_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLWR_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        FLWR_HOME=str(flwr_home),
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_DISABLE_UPDATE_CHECK="1",
        # A SuperExec looks for a new ClientApp/ServerApp task once a second by default; every
        # message of a round waits for that look on every node (twice a round), for nothing
        # but an idle local gRPC call when it comes sooner.
        FLWR_SUPEREXEC_TASK_POLL_INTERVAL=str(SUPEREXEC_POLL_S),
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now (the child binds it a moment later; collisions just fail the start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ip4_of(multiaddrs: list[str]) -> list[str]:
    """The IPv4 hosts in ``/ip4/H/tcp/P/...`` multiaddrs."""
    hosts = []
    for addr in multiaddrs:
        parts = addr.split("/")
        if len(parts) > 2 and parts[1] == "ip4":
            hosts.append(parts[2])
    return hosts
