"""A py-libp2p host configured the way peermind needs it.

The library's defaults are unsafe or slow for us (see shared/notes/libp2p-0.8.1.md):
plaintext security lets a peer claim any ID, every connect sleeps ~250 ms without a
connection config, and leaving ``host.run()`` does not close the listener. This module
builds the host once, correctly, and owns its lifecycle.
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.network.auto_connector import AutoConnector
from libp2p.network.config import ConnectionConfig
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

from ..errors import NodeError
from .yamux_credit import install as install_batched_credit

log = logging.getLogger("peermind.node.host")

DIAL_TIMEOUT_S = 5.0
AUTO_CONNECT_TARGET = 6
"""Connections below which the library's auto-connector dials known peers, and ads.py dials light peers."""
STREAM_NEGOTIATION_TIMEOUT_S = 30.0
"""How long a new stream's protocol negotiation may take (the library's default here: 10 s).

py-libp2p gives up on a connection's gossip stream when its negotiation times out (``intake.py``
now tries again). With 45 light nodes joining 5 model nodes on two cores, the model nodes
answered some negotiations after more than 10 s; newcomers then heard no ad for 25-40 s
(132-199 such timeouts per 50-node run, session 11; none with 30 s in five runs since).
A slow answer is still an answer, and a retry repeats the work a starved peer is behind on."""
PEERSTORE_ADDR_TTL_S = 7200  # as identify stores listen addresses; replaced on the next dial


CircuitDialer = Callable[[multiaddr.Multiaddr], Awaitable[None]]
"""Connects through a relay to the peer at the end of a ``/p2p-circuit`` address (relay.py)."""

_circuit_dialers: weakref.WeakKeyDictionary[IHost, CircuitDialer] = weakref.WeakKeyDictionary()


class HostError(NodeError):
    """The libp2p host could not start or listen."""


class BadMultiaddr(HostError):
    """A listen or bootstrap address is not a usable multiaddr."""


class PeerUnreachable(NodeError):
    """Dialing a peer failed on every address it advertised."""


def parse_listen_addrs(addrs: Sequence[str]) -> list[multiaddr.Multiaddr]:
    """Parse listen multiaddrs, raising ``BadMultiaddr`` with the offending text."""
    parsed = []
    for text in addrs:
        try:
            parsed.append(multiaddr.Multiaddr(text))
        except Exception as exc:  # the multiaddr library raises several unrelated types
            raise BadMultiaddr(f"listen address {text!r} is not a multiaddr: {exc}") from exc
    return parsed


def parse_peer_addr(text: str) -> PeerInfo:
    """Parse a dialable ``/ip4/.../tcp/PORT/p2p/ID`` multiaddr."""
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(text))
    except Exception as exc:
        raise BadMultiaddr(
            f"bootstrap address {text!r} is not a full multiaddr like "
            f"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...: {exc}"
        ) from exc


def build_host(key_pair: KeyPair, announce: Sequence[str] = ()) -> IHost:
    """A host with Noise only (no plaintext), yamux, and one connection per peer.

    ``announce`` (``ads.announce``) replaces the listen addresses in what identify tells
    peers, as in the ads: a peer must never learn a way around a port forward or proxy.
    """
    install_batched_credit()  # one WINDOW_UPDATE per 32 KiB read, not per read (yamux_credit.py)
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_preference="YAMUX",
        connection_config=ConnectionConfig(max_connections_per_peer=1,
                                           outbound_stream_protocol_negotiation_timeout=STREAM_NEGOTIATION_TIMEOUT_S,
                                           inbound_stream_protocol_negotiation_timeout=STREAM_NEGOTIATION_TIMEOUT_S),
        announce_addrs=[multiaddr.Multiaddr(a) for a in announce] or None,
    )
    swarm = host.get_network()
    if isinstance(swarm, Swarm):  # the swarm starts its auto-connector when the host runs: replaced before
        swarm.auto_connector = AutoConnector(swarm=_AimedSwarm(swarm, AUTO_CONNECT_TARGET),  # type: ignore[arg-type]
                                             auto_connect_interval=swarm.connection_config.auto_connect_interval)
    return host


class _AimedSwarm:
    """The swarm as py-libp2p's auto-connector sees it: watermarks that aim at ``target`` connections.

    The auto-connector dials peers from the peerstore until the count reaches the midpoint of
    the low and high watermarks, 200 with the library's defaults (100, 300): every node of a
    testnet dialed every other. At N = 20 each held ~21 connections, every one with its pings,
    DHT traffic and gossip heartbeats, and 20 starting nodes made ~210 handshakes on two cores.
    The watermarks themselves stay as they are for the connection pruner, which closes
    connections above the high one: a model node dialed by many askers must keep them.
    """

    def __init__(self, swarm: Swarm, target: int) -> None:
        self._swarm = swarm
        self.connection_config = dataclasses.replace(swarm.connection_config, min_connections=target // 2,
                                                     low_watermark=target, high_watermark=target)

    def __getattr__(self, name: str) -> object:
        return getattr(self._swarm, name)


@asynccontextmanager
async def running_host(key_pair: KeyPair, listen: Sequence[str], *, mdns_network: str | None = None,
                       announce: Sequence[str] = ()) -> AsyncIterator[IHost]:
    """Run a host listening on ``listen`` and always close it on exit.

    ``host.run()`` alone leaves the listener accepting after exit, so ``close()``
    is awaited explicitly, shielded from the cancellation that usually ends us.
    With ``mdns_network`` the host also announces itself (and hears others of that
    network) over mDNS; see ``mdns.py``.
    """
    addrs = parse_listen_addrs(listen)
    host = build_host(key_pair, announce)
    if mdns_network is not None:
        from .mdns import install_mdns

        install_mdns(host, mdns_network)
    try:
        async with host.run(listen_addrs=addrs):
            try:
                yield host
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await host.close()
    except OSError as exc:
        raise HostError(f"cannot listen on {', '.join(listen)}: {exc}") from exc


def full_addrs(host: IHost) -> list[str]:
    """Dialable multiaddrs of this host, each ending in ``/p2p/<peer id>``.

    A wildcard listen address (0.0.0.0) is expanded to loopback so the address
    printed for users is one another local node can actually dial.
    """
    peer = host.get_id().to_string()
    out = []
    for addr in host.get_transport_addrs():
        text = str(addr)
        if text.startswith("/ip4/0.0.0.0/"):
            text = "/ip4/127.0.0.1/" + text[len("/ip4/0.0.0.0/") :]
        out.append(f"{text}/p2p/{peer}")
    return out


async def dial(host: IHost, info: PeerInfo, *, timeout_s: float = DIAL_TIMEOUT_S) -> None:
    """Connect to a peer at the addresses given, raising ``PeerUnreachable`` instead of library errors.

    The caller's addresses are the freshest we know (a signed ad, the store, a bootstrap
    flag), so they *replace* what py-libp2p 0.8.1 remembers about the peer. Left alone,
    the library makes a peer that restarted on a new port unreachable: ``connect()`` only
    appends addresses and the swarm dials one address per transport, the oldest (the
    dead one); and a dial where every address failed (ours, or the auto-connector's
    periodic redial of the old address) blocks the peer ID for 60 s. Each address is
    tried on its own, so a second TCP address is not skipped. Callers pace their own
    retries (bootstrap loop, one dial per ad), so the library's block is lifted first.
    """
    peer = info.peer_id
    if peer == host.get_id() or is_connected(host, peer):
        return
    if not info.addrs:
        raise PeerUnreachable(f"cannot reach {peer}: no address to dial")
    errors: list[str] = []
    deadline = trio.current_time() + timeout_s
    for index, addr in enumerate(info.addrs):
        if is_connected(host, peer):  # a dial cut by its deadline may still have registered
            return
        _forget_dial_state(host, peer)
        budget = max((deadline - trio.current_time()) / (len(info.addrs) - index), 0.0)
        try:
            with trio.fail_after(budget):
                await _connect(host, peer, addr)
            return
        except trio.TooSlowError:
            errors.append(f"{addr}: timed out after {budget:.1f}s")
        except Exception as exc:  # SwarmDialAllFailedError and friends
            errors.append(f"{addr}: {exc}")
    if is_connected(host, peer):
        return
    # Keep the given addresses, not stale ones, for the library's own dials by peer ID.
    _forget_dial_state(host, peer)
    host.get_peerstore().add_addrs(peer, info.addrs, PEERSTORE_ADDR_TTL_S)
    raise PeerUnreachable(f"cannot reach {peer} within {timeout_s:.1f}s: {'; '.join(errors)}")


def set_circuit_dialer(host: IHost, dialer: CircuitDialer | None) -> None:
    """Let ``dial`` reach ``/p2p-circuit`` addresses of ``host`` through ``dialer`` (None: no more).

    py-libp2p's swarm skips relayed addresses, so every caller of ``dial`` (ads, bootstrap,
    known peers, training) gains relayed dials here, once, while the relay client runs.
    """
    if dialer is None:
        _circuit_dialers.pop(host, None)
    else:
        _circuit_dialers[host] = dialer


async def _connect(host: IHost, peer: ID, addr: multiaddr.Multiaddr) -> None:
    if "/p2p-circuit" not in str(addr):
        await host.connect(PeerInfo(peer, [addr]))
        return
    dialer = _circuit_dialers.get(host)
    if dialer is None:
        raise PeerUnreachable("a relayed address, and this node runs no relay client")
    target = f"/p2p/{peer.to_base58()}"
    if not str(addr).endswith(target):  # PeerInfo keeps the circuit without its final /p2p/<peer>
        addr = addr.encapsulate(multiaddr.Multiaddr(target))
    await dialer(addr)


def _forget_dial_state(host: IHost, peer: ID) -> None:
    """Drop the peer's remembered addresses and the swarm's 60 s block after a failed dial."""
    host.get_peerstore().clear_addrs(peer)
    unblock = getattr(host.get_network(), "unblock_peer", None)  # Swarm's negative peer cache
    if unblock is not None:
        unblock(peer)


def addrs_of(peer_b58: str, addrs: Iterable[str]) -> list[str]:
    """The full addresses in ``addrs`` that name ``peer_b58`` (a signed ad may list anything)."""
    out = []
    for text in addrs:
        try:
            if parse_peer_addr(text).peer_id.to_base58() == peer_b58:
                out.append(text)
        except BadMultiaddr:
            continue
    return out


def is_connected(host: IHost, peer: ID) -> bool:
    """Whether ``host`` holds at least one open connection to ``peer``."""
    return bool(host.get_network().get_connections(peer))
