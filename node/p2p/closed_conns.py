"""Every connection that closed, as the swarm reports it, for a poller that may miss short ones.

The ad gossip notices lost peers by polling the connection table (``ads.CONNECTION_POLL_S``).
A peer cut off by a flapping link (``testnet fault drop``) reconnects for a few milliseconds
at a time, and a connection opened and closed between two polls was never seen: the fresh ad
it carried lived on for the disconnected grace (20 s), renewed by the next short connection,
so the cut could stay invisible (tests/testnet/test_links.py waited 60 s for it once in CI).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from libp2p.peer.id import ID
from multiaddr import Multiaddr

__all__ = ["ClosedConnections"]


class ClosedConnections(INotifee):
    """Connections that closed, each reported once whether the swarm's notice or the poll saw it first.

    The swarm drops a connection from its table at once but notifies ~0.1 s later (after
    resetting its streams), so a poll that already found the connection gone would count the
    same loss twice when the notice arrives: twice within the flap window drops the ad (in
    20-SmolLM2 start-ups, 7 flapping drops from 10 s before to 20 s after the last node was
    ready, against none without the notice or with each loss counted once; scale-s10 sysA,
    sysC, sysB). ``lost_since_last_poll`` therefore works on connection objects: those gone
    from the table since the last poll or reported closed, less those already counted.
    """

    def __init__(self) -> None:
        self._reported: set[INetConn] = set()
        self._counted: weakref.WeakSet[INetConn] = weakref.WeakSet()
        self._polled: set[INetConn] = set()

    def lost_since_last_poll(self, connections: Mapping[ID, Sequence[INetConn]]) -> set[str]:
        """The peers (base58) with no connection in ``connections`` that lost one since the previous call."""
        current = {conn for conns in connections.values() for conn in conns}
        ended = (self._polled - current) | self._reported
        self._polled, self._reported = current, set()
        new = [conn for conn in ended if conn not in self._counted]
        self._counted.update(new)
        connected = {peer.to_base58() for peer, conns in connections.items() if conns}
        return {conn.muxed_conn.peer_id.to_base58() for conn in new} - connected

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        """The swarm's notice (after it dropped ``conn`` from its table): counted at the next poll."""
        self._reported.add(conn)

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        """Not needed: the poll sees open connections in the table."""

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        """Streams do not matter here (INotifee requires the method)."""

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        """Streams do not matter here (INotifee requires the method)."""

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        """Listen addresses do not matter here (INotifee requires the method)."""

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        """Listen addresses do not matter here (INotifee requires the method)."""
