"""Every connection that closed, as the swarm reports it, for a poller that may miss short ones.

The ad gossip notices lost peers by polling the connection table (``ads.CONNECTION_POLL_S``).
A peer cut off by a flapping link (``testnet fault drop``) reconnects for a few milliseconds
at a time, and a connection opened and closed between two polls was never seen: the fresh ad
it carried lived on for the disconnected grace (20 s), renewed by the next short connection,
so the cut could stay invisible (tests/testnet/test_links.py waited 60 s for it once in CI).
"""

from __future__ import annotations

from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from multiaddr import Multiaddr

__all__ = ["ClosedConnections"]


class ClosedConnections(INotifee):
    """Collects the peers whose connections closed since the last ``take``."""

    def __init__(self) -> None:
        self._peers: set[str] = set()

    def take(self) -> set[str]:
        """The peers (base58) that lost a connection since the previous call."""
        peers, self._peers = self._peers, set()
        return peers

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._peers.add(conn.muxed_conn.peer_id.to_base58())

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        pass

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass
