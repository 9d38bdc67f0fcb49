"""Connect to a peer before a stream opens, at the addresses its signed ad gives.

Opening a stream to a peer we hold no connection to makes py-libp2p's swarm dial the
addresses in its peerstore, which identify and earlier dials fill: the direct listen
addresses of a peer behind a NAT (told over a relayed connection, or left by a failed
dial of its first ad), never its ``/p2p-circuit`` ones (the swarm skips them). A node that
held such a peer's relayed-only ad then failed to reach it ("unreachable": CI cc6's
``bench relay`` warm-up question). The ad is the authority on where its signer can be
reached (ads.py), so a stream's caller dials the ad's addresses with ``host.dial`` (which
also reaches circuits through the relay client) first; a peer without an ad, or whose
ad lists no address, is left to the swarm as before.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import multiaddr
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from .host import DIAL_TIMEOUT_S, dial, is_connected

AddressSource = Callable[[ID], list[multiaddr.Multiaddr]]
"""The addresses of a peer's freshest signed ad (empty: none known)."""

_sources: weakref.WeakKeyDictionary[IHost, AddressSource] = weakref.WeakKeyDictionary()
_dials: weakref.WeakKeyDictionary[IHost, dict[ID, trio.Event]] = weakref.WeakKeyDictionary()


def set_address_source(host: IHost, source: AddressSource | None) -> None:
    """Let streams of ``host`` dial unconnected peers at ``source``'s addresses (None: the swarm's own)."""
    if source is None:
        _sources.pop(host, None)
    else:
        _sources[host] = source


async def reach(host: IHost, peer: ID) -> None:
    """Connect to ``peer`` at its ad's addresses unless connected; raises ``PeerUnreachable``.

    Without an address source or an address, nothing is done.
    """
    source = _sources.get(host)
    if source is None:
        return
    await dial_once(host, peer, lambda: source(peer))


async def dial_once(host: IHost, peer: ID, addresses: Callable[[], list[multiaddr.Multiaddr]],
                    *, timeout_s: float = DIAL_TIMEOUT_S) -> None:
    """Dial ``peer`` unless connected, one dial per peer at a time; raises ``PeerUnreachable``.

    A dial already in flight (a stream's, or one an ad asked for, ads.py) is waited for, and
    ours is tried only if it did not connect: two dials of one peer at once cost two
    handshakes and the library keeps one connection. ``addresses`` is read after the wait,
    so a newer ad's addresses are the ones tried; an empty list leaves it to the swarm.
    """
    in_flight = _dials.setdefault(host, {})
    while not is_connected(host, peer):
        pending = in_flight.get(peer)
        if pending is None:
            break
        await pending.wait()
    else:
        return
    addrs = addresses()
    if not addrs:
        return
    done = in_flight[peer] = trio.Event()
    try:
        await dial(host, PeerInfo(peer, addrs), timeout_s=timeout_s)
    finally:
        del in_flight[peer]
        done.set()
