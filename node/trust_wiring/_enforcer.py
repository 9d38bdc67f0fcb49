"""Enforcing bans on the network: disconnect, blacklist in gossip, forget the ad.

A banned peer's task streams are already refused (``Admission.gate_task``) and its gossip
dropped (``Admission.admit``); this loop also closes its connection (again at most once a
minute if it dials back: reconnect churn costs more than refusing its streams), tells pubsub to
reject messages it originates, drops its ad (so nothing routes to it) and its global
trust opinion. When the ban ends the pubsub blacklist entry is lifted again; the ad
returns with the peer's next publication.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub.pubsub import Pubsub
from peermind.trust import GlobalTrust, ReputationBook

from ._metrics import TrustMetrics

log = logging.getLogger("peermind.node.trust")

__all__ = ["BanEnforcer"]

POLL_S = 0.5
DISCONNECT_TIMEOUT_S = 3.0
DISCONNECT_EVERY_S = 60.0


class BanEnforcer:
    def __init__(
        self,
        book: ReputationBook,
        metrics: TrustMetrics,
        global_trust: GlobalTrust,
        *,
        host: IHost,
        pubsub: Callable[[], Pubsub | None],
        forget_ad: Callable[[str], None],
        forget_limits: Callable[[str], None],
    ) -> None:
        self._book = book
        self._metrics = metrics
        self._global = global_trust
        self._host = host
        self._pubsub = pubsub
        self._forget_ad = forget_ad
        self._forget_limits = forget_limits
        self.blacklisted: set[str] = set()
        self._disconnected: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            await self.enforce()
            await trio.sleep(POLL_S)

    async def enforce(self) -> None:
        """One pass: disconnect connected banned peers, update the gossip blacklist."""
        pubsub = self._pubsub()
        for peer in list(self.blacklisted):
            if not self._book.is_banned(peer):
                self.blacklisted.discard(peer)
                if pubsub is not None:
                    pubsub.remove_from_blacklist(ID.from_base58(peer))
                log.info("ban over", extra={"peer": peer})
        for peer in list(self._book.peers()):
            if self._book.is_banned(peer) and peer not in self.blacklisted:
                self.blacklisted.add(peer)
                if pubsub is not None:
                    pubsub.add_to_blacklist(ID.from_base58(peer))
                self._forget_ad(peer)
                self._global.forget(peer)
                log.warning("peer banned", extra={"peer": peer, "until": self._book.ban_until(peer)})
        connected = list(self._host.get_network().get_connections_map())
        now = trio.current_time()
        for pid in connected:
            peer = pid.to_base58()
            if peer in self.blacklisted and now - self._disconnected.get(peer, -DISCONNECT_EVERY_S) >= DISCONNECT_EVERY_S:
                # A banned peer that dials back is disconnected again only once a minute:
                # each reconnect costs both sides a handshake, and its streams are refused anyway.
                self._disconnected[peer] = now
                self._forget_limits(peer)
                with trio.move_on_after(DISCONNECT_TIMEOUT_S):
                    try:
                        await self._host.disconnect(pid)
                        self._metrics.disconnects.inc()
                    except Exception as exc:
                        log.info("could not disconnect a banned peer", extra={"peer": peer, "error": str(exc)})
