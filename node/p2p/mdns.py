"""LAN discovery with mDNS: dial every node of our network that announces itself nearby.

py-libp2p runs zeroconf on its own threads and reports peers through a process-wide
callback registry (``peerDiscovery``). The callback must not block the zeroconf
thread on trio: closing the host stops zeroconf from the trio thread, and a zeroconf
thread waiting for trio at that moment would deadlock the shutdown. So the callback
only queues the peer with ``TrioToken.run_sync_soon`` (the non-blocking sibling of
``trio.from_thread.run_sync``), and dialing happens in the node's own nursery.

Each network announces its own mDNS service type (``_p2p-<hash of network>``), so
nodes of other networks on the same LAN are not even reported. Ads then arrive over
gossip as for any other connection.
"""

from __future__ import annotations

import hashlib
import logging

import trio
from libp2p.abc import IHost
from libp2p.discovery.events.peerDiscovery import peerDiscovery
from libp2p.discovery.mdns.mdns import create_mdns_discovery
from libp2p.peer.peerinfo import PeerInfo

from .host import PeerUnreachable, dial

log = logging.getLogger("peermind.node.mdns")

QUEUE = 64


def mdns_fingerprint(network: str) -> str:
    """10 hex chars: the service label ``p2p-<fp>`` must stay within DNS-SD's 15 bytes."""
    return hashlib.sha256(f"peermind/{network}".encode()).hexdigest()[:10]


def install_mdns(host: IHost, network: str) -> bool:
    """Attach mDNS to a host before ``host.run()`` (which starts it; ``close()`` stops it).

    Returns False (and logs why) when this machine cannot do multicast: mDNS is an
    extra, the node still runs with bootstrap peers and the DHT.
    """
    try:
        host.mDNS = create_mdns_discovery(  # type: ignore[attr-defined]
            host.get_network(), host=host, private_network_fingerprint=mdns_fingerprint(network)
        )
    except Exception as exc:  # zeroconf raises OSError and its own types when it cannot bind
        log.warning("mDNS unavailable; continuing without it", extra={"error": f"{type(exc).__name__}: {exc}"})
        return False
    return True


class MdnsDialer:
    """Dials peers that mDNS reports; runs until cancelled."""

    def __init__(self, host: IHost) -> None:
        self._host = host
        self.found = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Dial each peer zeroconf reports (its callbacks come from another thread) until cancelled."""
        token = trio.lowlevel.current_trio_token()
        send, receive = trio.open_memory_channel[PeerInfo](QUEUE)

        def on_peer(info: PeerInfo) -> None:  # runs on a zeroconf thread
            def enqueue() -> None:
                try:
                    send.send_nowait(info)
                except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                    pass  # a burst of announcements: the next one brings the peer again

            try:
                token.run_sync_soon(enqueue)
            except trio.RunFinishedError:
                pass

        peerDiscovery.register_peer_discovered_handler(on_peer)
        try:
            task_status.started()
            async with receive:
                async for info in receive:
                    if info.peer_id == self._host.get_id():
                        continue
                    self.found += 1
                    try:
                        await dial(self._host, info, timeout_s=3.0)
                        log.info("mDNS peer connected", extra={"peer": info.peer_id.to_base58()})
                    except PeerUnreachable as exc:
                        log.info("mDNS peer unreachable", extra={"error": str(exc)})
        finally:
            peerDiscovery.unregister_peer_discovered_handler(on_peer)
            send.close()
