"""NAT traversal with what py-libp2p 0.8.1 ships: circuit relay v2 and DCUtR hole punching.

Three jobs, one service per host:

- **relay service** (``relay.serve``, ``--relay``): the hop protocol, within the limits of
  ``[relay]`` (reservations, circuits per peer, seconds and bytes per circuit);
- **being reached through a relay** (``relay.via``, ``--relay-via``): a node that cannot be
  dialled directly (``relay.reachability`` private, or auto and AutoNAT says so, see
  reachability.py) keeps a reservation on each relay and advertises only its
  ``<relay addr>/p2p-circuit/p2p/<own id>`` addresses (protocol/SPEC.md, the ad's ``addrs``);
- **reaching others through a relay, then directly**: ``dial`` (host.py) hands circuit
  addresses to this module (py-libp2p's swarm skips them), and every few seconds a relayed
  connection is offered to DCUtR, which dials the peer's direct addresses (learnt from
  identify and the DCUtR exchange) and keeps the direct connection when one works. New
  streams prefer a direct connection; ``paths()`` says which kind each peer has.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import multiaddr
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.relay.circuit_v2.config import RelayConfig as CircuitConfig
from libp2p.relay.circuit_v2.config import RelayRole
from libp2p.relay.circuit_v2.dcutr import DCUtRProtocol
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

from ..config import RelayConfig
from .host import dial, is_connected, parse_peer_addr, set_circuit_dialer
from .reachability import PRIVATE, PUBLIC, Reachability, has_direct

log = logging.getLogger("peermind.node.relay")

CIRCUIT = "/p2p-circuit"
RESERVE_CHECK_S = 5.0
"""How often the reservations are checked (relay still connected, reservation held)."""
RESERVE_RENEW_S = 600.0
"""A held reservation is renewed this often (the relay grants an hour)."""
RESERVE_TIMEOUT_S = 10.0
UPGRADE_TIMEOUT_S = 20.0
UPGRADE_BACKOFF_MAX = 16
CIRCUIT_DIAL_TIMEOUT_S = 10.0
MAX_CIRCUIT_ADDRS = 4


def is_circuit(addr: str) -> bool:
    """True for a relayed address (``.../p2p-circuit/p2p/<peer>``)."""
    return CIRCUIT in addr


def circuit_addrs(relay_addrs: Iterable[str], relay_id: str, me: str) -> list[str]:
    """This node's addresses through a relay, one per usable relay address (at most four).

    Wildcard and already relayed addresses are useless to others and dropped; the relay's
    own ``/p2p/<id>`` suffix is added where missing.
    """
    out: list[str] = []
    for text in relay_addrs:
        base = text.split(f"/p2p/{relay_id}")[0]
        if not base or is_circuit(text) or "/ip4/0.0.0.0/" in base or "/ip6/::/" in base:
            continue
        addr = f"{base}/p2p/{relay_id}{CIRCUIT}/p2p/{me}"
        if addr not in out:
            out.append(addr)
    return out[:MAX_CIRCUIT_ADDRS]


def connection_path(host: IHost, peer: ID) -> str:
    """How this host reaches ``peer`` now: ``direct``, ``relay`` or ``none``."""
    connections = host.get_network().get_connections(peer)
    if not connections:
        return "none"
    return "direct" if has_direct(connections) else "relay"


def relay_limits(cfg: RelayConfig) -> RelayLimits:
    """The relay service's limits from the node's ``relay`` config section."""
    return RelayLimits(
        duration=cfg.max_circuit_duration_s,
        data=cfg.max_circuit_bytes,
        max_circuit_conns=cfg.max_circuits,
        max_reservations=cfg.max_reservations,
    )


@dataclass
class Reservation:
    """One relay this node reserves on, and what it holds there now."""

    relay_id: ID
    via: str
    held: bool = False
    renewed_at: float = 0.0
    error: str = ""
    addrs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The reservation as status shows it."""
        return {"relay": self.relay_id.to_base58(), "via": self.via, "held": self.held,
                "renewed_at": self.renewed_at, "addrs": list(self.addrs), "error": self.error}


class NatTraversal:
    """Relay service, reservations, circuit dials and upgrades to direct paths for one host."""

    def __init__(self, host: IHost, cfg: RelayConfig, *, on_addrs_changed: Callable[[], None] = lambda: None) -> None:
        self._host = host
        self._cfg = cfg
        self._me = host.get_id().to_base58()
        self._on_addrs_changed = on_addrs_changed
        limits = relay_limits(cfg)
        self._protocol = CircuitV2Protocol(host, limits=limits, allow_hop=cfg.serve)
        roles = RelayRole.STOP | RelayRole.CLIENT if cfg.via else RelayRole.STOP
        self._transport = CircuitV2Transport(host, self._protocol, CircuitConfig(roles=roles, limits=limits))
        # Dialling out through a relay must not reserve there (CLIENT role): only `via` reserves.
        self._dialer = CircuitV2Transport(host, self._protocol, CircuitConfig(roles=RelayRole.STOP, limits=limits))
        self._dcutr = DCUtRProtocol(host)
        self.reachability = Reachability(host, check=cfg.reachability == "auto",
                                         interval_s=cfg.autonat_interval_s, on_change=lambda _v: self._wake.set())
        self._wake = trio.Event()
        self.reservations = [Reservation(parse_peer_addr(v).peer_id, v) for v in cfg.via]
        self.upgrades = 0

    @property
    def verdict(self) -> str:
        """``public``, ``private`` or ``unknown``: configured, or AutoNAT's in ``auto``."""
        if self._cfg.reachability == "auto":
            return self.reachability.status
        return PRIVATE if self._cfg.reachability == PRIVATE else PUBLIC

    @property
    def private(self) -> bool:
        """True when this node is reached through relays only (it holds or seeks reservations)."""
        return self.verdict == PRIVATE and bool(self.reservations)

    def advertised_addrs(self, direct: list[str]) -> list[str]:
        """The addresses the ad lists: the direct ones, or only the circuit ones when private."""
        if not self.private:
            return direct
        return [a for r in self.reservations if r.held for a in r.addrs]

    def paths(self) -> dict[str, str]:
        """``direct`` or ``relay`` for every connected peer."""
        network = self._host.get_network()
        return {peer.to_base58(): connection_path(self._host, peer) for peer in network.get_connections_map()}

    def reserved_here(self) -> int:
        """Connected peers holding a live reservation on this node's relay service."""
        if not self._cfg.serve:
            return 0
        manager = self._protocol.resource_manager
        return sum(manager.get_reservation(peer) is not None for peer in self._host.get_network().get_connections_map())

    def status(self) -> dict[str, object]:
        """Relay service limits, reservations and reachability, for ``/status``."""
        cfg = self._cfg
        return {
            "serve": cfg.serve,
            "limits": {"max_reservations": cfg.max_reservations, "max_circuits": cfg.max_circuits,
                       "max_circuit_duration_s": cfg.max_circuit_duration_s,
                       "max_circuit_bytes": cfg.max_circuit_bytes} if cfg.serve else None,
            "reserved_here": self.reserved_here(),
            "reachability": self._cfg.reachability,
            "verdict": self.verdict,
            "autonat_answers": self.reachability.answers,
            "private": self.private,
            "reservations": [r.to_json() for r in self.reservations],
            "upgrades": self.upgrades,
            "paths": self.paths(),
        }

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve relay and DCUtR, hold the reservations and upgrade circuits to direct paths, until cancelled."""
        async with background_trio_service(self._protocol), background_trio_service(self._dcutr):
            set_circuit_dialer(self._host, self.dial_circuit)
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(self.reachability.run)
                    for reservation in self.reservations:
                        nursery.start_soon(self._keep_reservation, reservation, nursery)
                    nursery.start_soon(self._upgrade_loop)
                    task_status.started()
            finally:
                set_circuit_dialer(self._host, None)

    async def dial_circuit(self, addr: multiaddr.Multiaddr) -> None:
        """Connect to the peer at the end of a circuit address, through its relay."""
        with trio.fail_after(CIRCUIT_DIAL_TIMEOUT_S):
            await self._dialer.dial(addr)

    # ------------------------------------------------------------------ reservations
    async def _keep_reservation(self, reservation: Reservation, nursery: trio.Nursery) -> None:
        """Hold a slot on one relay: reconnect and reserve again whenever the slot may be gone."""
        info = parse_peer_addr(reservation.via)
        while True:
            lost = not is_connected(self._host, info.peer_id)
            due = time.time() - reservation.renewed_at > RESERVE_RENEW_S
            if self.private and (lost or due or not reservation.held):
                await self._reserve(reservation, info, nursery)
            with trio.move_on_after(RESERVE_CHECK_S):  # or at once when the verdict changes
                await self._wake.wait()
            if self._wake.is_set():
                self._wake = trio.Event()
                self._on_addrs_changed()  # public again: the ad lists the direct addresses

    async def _reserve(self, reservation: Reservation, info: PeerInfo, nursery: trio.Nursery) -> None:
        was = (reservation.held, reservation.addrs)
        try:
            await dial(self._host, info)
            with trio.fail_after(RESERVE_TIMEOUT_S):
                stream = await self._host.new_stream(reservation.relay_id, [HOP_PROTOCOL])
                try:
                    held = await self._transport.reserve(stream, reservation.relay_id, nursery)
                finally:
                    with trio.move_on_after(1):
                        await stream.close()
            reservation.held = held
            reservation.error = "" if held else "the relay refused the reservation (limit reached or no relay service)"
        except Exception as exc:  # unreachable, timed out, stream reset: try again at the next check
            reservation.held = False
            reservation.error = f"{type(exc).__name__}: {exc}"[:300]
        if reservation.held:
            reservation.renewed_at = time.time()
            known = [str(a) for a in self._host.get_peerstore().addrs(reservation.relay_id)]
            reservation.addrs = tuple(circuit_addrs([reservation.via, *known], reservation.relay_id.to_base58(), self._me))
            log.info("relay reservation held", extra={"peer": reservation.relay_id.to_base58()})
        else:
            log.warning("relay reservation failed, will retry",
                        extra={"peer": reservation.relay_id.to_base58(), "error": reservation.error})
        if (reservation.held, reservation.addrs) != was:
            self._on_addrs_changed()

    # ------------------------------------------------------------------ direct upgrades
    async def _upgrade_loop(self) -> None:
        """Offer every relay-only connection to DCUtR, again and again (paths appear later, too).

        A peer whose attempts keep failing is tried less often (twice the wait after each
        failure, up to ``UPGRADE_BACKOFF_MAX`` times the interval): no path costs little.
        """
        await self._dcutr.event_started.wait()
        failures: dict[ID, int] = {}
        next_try: dict[ID, float] = {}
        while True:
            await trio.sleep(self._cfg.upgrade_interval_s)
            now = trio.current_time()
            for peer in list(self._host.get_network().get_connections_map()):
                if connection_path(self._host, peer) != "relay":
                    failures.pop(peer, None)
                    next_try.pop(peer, None)
                    continue
                if next_try.get(peer, 0.0) > now:
                    continue
                if await self._try_upgrade(peer):
                    failures.pop(peer, None)
                else:
                    failures[peer] = failures.get(peer, 0) + 1
                    wait = self._cfg.upgrade_interval_s * min(2 ** failures[peer], UPGRADE_BACKOFF_MAX)
                    next_try[peer] = trio.current_time() + wait

    async def _try_upgrade(self, peer: ID) -> bool:
        with trio.move_on_after(UPGRADE_TIMEOUT_S):
            try:
                if await self._dcutr.initiate_hole_punch(peer):
                    self.upgrades += 1
                    log.info("relayed connection upgraded to direct", extra={"peer": peer.to_base58()})
                    return True
            except Exception as exc:  # a failed punch leaves the relayed connection in place
                log.debug("hole punch failed", extra={"peer": peer.to_base58(), "error": str(exc)[:200]})
        return False
