"""Can others dial this node? AutoNAT v1 (py-libp2p 0.8.1), asked of the peers we are connected to.

Every node answers AutoNAT requests. A node whose ``relay.reachability`` is ``auto`` asks up
to four directly connected peers, every ``relay.autonat_interval_s``, to dial it back at its
listen addresses; the majority of their answers is the verdict (``public`` / ``private``).

What the library's server checks, and so what the verdict means: it dials only addresses
whose IP is the one it sees the request come from (anti-amplification), and it dials with
``host.connect``, which returns at once on the connection already open. So a node behind a
NAT (it listens on a private address, peers see its router's) is told ``private``, and a
node that listens on the address peers see is told ``public`` even when a firewall drops
fresh connections to it: for that case, ``relay.reachability = "private"`` (or
``--relay-via``) forces the relayed path.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import cast

import psutil
import trio
from libp2p.abc import IHost, INetConn
from libp2p.host.autonat import AutoNATService
from libp2p.host.basic_host import BasicHost
from libp2p.peer.id import ID
from multiaddr import Multiaddr

log = logging.getLogger("peermind.node.reachability")

MAX_SERVERS = 4
QUERY_TIMEOUT_S = 10.0
FIRST_CHECK_S = 2.0

UNKNOWN, PUBLIC, PRIVATE = "unknown", "public", "private"


def verdict(answers: dict[ID, bool]) -> str:
    """``public`` when most peers could dial us back, ``private`` otherwise; ``unknown`` without answers."""
    if not answers:
        return UNKNOWN
    reached = sum(answers.values())
    return PUBLIC if reached * 2 > len(answers) else PRIVATE


class Reachability:
    """Serves AutoNAT to peers and, when asked to, keeps this node's own verdict fresh."""

    def __init__(self, host: IHost, *, check: bool, interval_s: float,
                 on_change: Callable[[str], None] = lambda _verdict: None) -> None:
        self._host = host
        self._check = check
        self._interval_s = interval_s
        self._on_change = on_change
        self._service = AutoNATService(cast(BasicHost, host), serve=True)
        self.status = UNKNOWN
        self.answers: dict[str, bool] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Check this node's reachability after FIRST_CHECK_S and then every ``interval_s`` (if asked to)."""
        task_status.started()
        if not self._check:
            return
        await trio.sleep(FIRST_CHECK_S)
        while True:
            await self.check_once()
            await trio.sleep(self._interval_s if self.status != UNKNOWN else FIRST_CHECK_S)

    async def check_once(self) -> str:
        """Ask up to four directly connected peers to dial us back; update and return the verdict."""
        mine = [addr.to_bytes() for addr in dialback_addrs(self._host.get_transport_addrs())]
        servers = [peer for peer, conns in self._host.get_network().get_connections_map().items()
                   if has_direct(conns)][:MAX_SERVERS]
        answers: dict[ID, bool] = {}  # the library's server refuses requests over relayed connections
        for server in servers:
            try:
                with trio.fail_after(QUERY_TIMEOUT_S):
                    status, _addr = await self._service.query_server(server, mine)
                answers[server] = status == 0  # autonat Message.OK
            except Exception as exc:  # unreachable, no AutoNAT handler, timed out: no answer from it
                log.debug("autonat query failed", extra={"peer": server.to_base58(), "error": str(exc)[:200]})
        self.answers = {peer.to_base58(): ok for peer, ok in answers.items()}
        new = verdict(answers)
        if new != UNKNOWN and new != self.status:
            log.info("reachability", extra={"verdict": new, "answers": len(answers)})
            self.status = new
            self._on_change(new)
        return self.status


def dialback_addrs(listen: list[Multiaddr]) -> list[Multiaddr]:
    """Our listen addresses, a wildcard (0.0.0.0) one expanded to every local IPv4 address.

    The server dials only an address with the IP it sees us at: a node on a public
    interface then matches, one behind a NAT (no interface holds the router's address) not.
    """
    out: list[Multiaddr] = []
    for addr in listen:
        text = str(addr)
        if not text.startswith("/ip4/0.0.0.0/"):
            out.append(addr)
            continue
        rest = text[len("/ip4/0.0.0.0"):]
        for nic in psutil.net_if_addrs().values():
            out += [Multiaddr(f"/ip4/{a.address}{rest}") for a in nic if a.family == socket.AF_INET]
    return out


def has_direct(conns: list[INetConn]) -> bool:
    """True if one of these connections is direct (none of its addresses is a ``/p2p-circuit``)."""
    for conn in conns:
        try:
            addrs = conn.get_transport_addresses()
        except Exception:  # a connection being torn down
            continue
        if addrs and not any("/p2p-circuit" in str(a) for a in addrs):
            return True
    return False
