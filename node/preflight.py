"""Checks that turn a confusing start-up failure into one clear line."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import multiaddr

from .errors import NodeStartupError

if TYPE_CHECKING:
    from .config import NodeConfig


def _port_taken(host: str, port: int) -> bool:
    # libp2p binds with SO_REUSEPORT, so it would happily share a port with another
    # node; a plain bind (without it) tells us the port is really taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def check_listen_ports(cfg: NodeConfig) -> None:
    """Fail with one clear line when a TCP port this node should listen on is already taken."""
    for text in cfg.listen:
        ma = multiaddr.Multiaddr(text)
        try:
            host, port = ma.value_for_protocol("ip4"), int(ma.value_for_protocol("tcp"))
        except Exception:
            continue
        if port and _port_taken(host, port):
            raise NodeStartupError(f"listen port {port} on {host} is in use (another node?); pick another with --listen /ip4/{host}/tcp/PORT")
    host, _, port_text = cfg.api.rpartition(":")
    if port_text.isdigit() and int(port_text) and _port_taken(host.strip("[]") or "127.0.0.1", int(port_text)):
        raise NodeStartupError(f"API port {port_text} on {host} is in use; pick another with --api HOST:PORT")


def check_docs_dir(cfg: NodeConfig) -> None:
    """``--docs`` (``knowledge.docs``) must name a folder or file before the node starts: a typo there
    would otherwise surface only in the log, after the model loaded, with the node answering without it."""
    docs = cfg.knowledge.docs
    if docs is not None and not (docs.is_dir() or docs.is_file()):
        raise NodeStartupError(f"--docs {docs}: no such folder or file (knowledge.docs)")
