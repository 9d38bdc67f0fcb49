"""Circuit relay v2 and the direct-path upgrade (node/p2p/relay.py).

Pure parts (circuit addresses, limits, config) on their own; then real py-libp2p hosts on
loopback sockets in this process: a relay, a node reserved on it (``relay.via``) and a
node that reaches it through ``dial()`` at its advertised circuit address, a stream over
the circuit, and DCUtR replacing the relayed connection by a direct one (on loopback a
direct path always exists). The real-process test in separate network namespaces, where
no direct path exists at first, is test_relay_netns.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from multiaddr import Multiaddr
from peermind.node.config import RelayConfig, load_config
from peermind.node.errors import ConfigError
from peermind.node.p2p.host import PeerUnreachable, dial, full_addrs, parse_peer_addr, running_host
from peermind.node.p2p.reachability import (
    PRIVATE,
    PUBLIC,
    UNKNOWN,
    Reachability,
    dialback_addrs,
    verdict,
)
from peermind.node.p2p.relay import (
    NatTraversal,
    circuit_addrs,
    connection_path,
    is_circuit,
    relay_limits,
)

RELAY = "12D3KooWHAD8XEcQbqgnnbuao7zejDtpZS7tb5gkyC3bGx96ijkh"
ME = "12D3KooWJ5yf7qT8VLak9nsSvUckEek6WeZZQjSzq1dkyTn6Yipm"
ECHO = TProtocol("/test/echo/1")


# ----------------------------------------------------------------------------- pure
def test_circuit_addrs_name_the_relay_then_this_node_and_skip_unusable_addresses() -> None:
    addrs = circuit_addrs(
        [f"/ip4/10.0.0.1/tcp/4001/p2p/{RELAY}", "/ip4/10.0.0.1/tcp/4001", "/ip4/0.0.0.0/tcp/4001",
         f"/ip4/10.0.0.9/tcp/1/p2p/{RELAY}/p2p-circuit/p2p/{ME}", "/ip4/192.168.1.5/tcp/4001"],
        RELAY, ME)
    assert addrs == [f"/ip4/10.0.0.1/tcp/4001/p2p/{RELAY}/p2p-circuit/p2p/{ME}",
                     f"/ip4/192.168.1.5/tcp/4001/p2p/{RELAY}/p2p-circuit/p2p/{ME}"]
    assert all(is_circuit(a) for a in addrs) and not is_circuit("/ip4/10.0.0.1/tcp/4001")
    many = circuit_addrs([f"/ip4/10.0.0.{i}/tcp/4001" for i in range(10)], RELAY, ME)
    assert len(many) == 4
    assert parse_peer_addr(addrs[0]).peer_id.to_base58() == ME  # the ad's signer, as ads.addrs_of checks


def test_relay_limits_come_from_the_config() -> None:
    limits = relay_limits(RelayConfig(max_reservations=3, max_circuits=2, max_circuit_duration_s=60,
                                      max_circuit_bytes=1000))
    assert (limits.max_reservations, limits.max_circuit_conns, limits.duration, limits.data) == (3, 2, 60, 1000)


def test_relay_config_rejects_a_relay_address_without_peer_id_and_bad_limits() -> None:
    with pytest.raises(ConfigError, match="relay.via|/p2p/<peer id>"):
        load_config(None, {}, {"relay.via": ("/ip4/10.0.0.1/tcp/4001",)})
    with pytest.raises(ConfigError, match="max_reservations"):
        load_config(None, {}, {"relay.max_reservations": 0})
    cfg = load_config(None, {"PEERMIND_RELAY__SERVE": "true"}, {"relay.via": (f"/ip4/10.0.0.1/tcp/4001/p2p/{RELAY}",)})
    assert cfg.relay.serve and cfg.relay.via == (f"/ip4/10.0.0.1/tcp/4001/p2p/{RELAY}",)


def test_a_wildcard_listen_address_is_offered_for_dial_back_on_every_local_ipv4_address() -> None:
    offered = [str(a) for a in dialback_addrs([Multiaddr("/ip4/0.0.0.0/tcp/4001"), Multiaddr("/ip4/10.1.2.3/tcp/5")])]
    assert "/ip4/127.0.0.1/tcp/4001" in offered and "/ip4/10.1.2.3/tcp/5" in offered
    assert not any(a.startswith("/ip4/0.0.0.0/") for a in offered)


def test_autonat_verdict_is_the_majority_of_answers() -> None:
    a, b = create_new_key_pair(), create_new_key_pair()
    from libp2p.peer.id import ID

    pa, pb = ID.from_pubkey(a.public_key), ID.from_pubkey(b.public_key)
    assert verdict({}) == UNKNOWN
    assert verdict({pa: True}) == PUBLIC and verdict({pa: False}) == PRIVATE
    assert verdict({pa: True, pb: False}) == PRIVATE  # half is not most


# ----------------------------------------------------------------------------- real hosts
@pytest.mark.parametrize(("listen", "expected"), [("127.0.0.1", PUBLIC), ("0.0.0.0", PUBLIC), ("127.0.0.2", PRIVATE)])
async def test_autonat_says_private_when_peers_see_another_address_than_we_listen_on(listen: str, expected: str) -> None:
    """Connecting to 127.0.0.1 leaves from 127.0.0.1: a node listening on 127.0.0.2 looks NATed to the server."""
    async with running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as server, \
            running_host(create_new_key_pair(), [f"/ip4/{listen}/tcp/0"]) as client:
        Reachability(server, check=False, interval_s=60)  # serves AutoNAT
        mine = Reachability(client, check=False, interval_s=60)
        await dial(client, parse_peer_addr(full_addrs(server)[0]))
        assert await mine.check_once() == expected
        assert list(mine.answers.values()) == [expected == PUBLIC]

@asynccontextmanager
async def _node(cfg: RelayConfig) -> AsyncIterator[tuple[IHost, NatTraversal]]:
    async with running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as host:
        nat = NatTraversal(host, cfg)
        async with trio.open_nursery() as nursery:
            await nursery.start(nat.run)
            yield host, nat
            nursery.cancel_scope.cancel()


async def _echo(stream: INetStream) -> None:
    try:
        await stream.write(await stream.read(100))
        await stream.close()
    except Exception:
        await stream.reset()


async def test_a_reserved_node_is_reached_through_the_relay_then_directly() -> None:
    async with _node(RelayConfig(serve=True, max_reservations=2)) as (relay, relay_nat):
        via = full_addrs(relay)[0]
        async with _node(RelayConfig(via=(via,), reachability="private", upgrade_interval_s=0.5)) as (hidden, hidden_nat), \
                _node(RelayConfig(upgrade_interval_s=0.5)) as (asker, _):
            hidden.set_stream_handler(ECHO, _echo)
            with trio.fail_after(30):
                while not hidden_nat.reservations[0].held:  # noqa: ASYNC110 (state of a library object, no event)
                    await trio.sleep(0.05)
            advertised = hidden_nat.advertised_addrs(full_addrs(hidden))
            assert advertised and all(is_circuit(a) for a in advertised)  # private: relayed addresses only
            assert relay_nat.status()["reserved_here"] == 1

            await dial(asker, parse_peer_addr(full_addrs(relay)[0]))
            await dial(asker, parse_peer_addr(advertised[0]))
            # The first connection is relayed (DCUtR may add a direct one at any moment after).
            assert any(is_circuit(str(a)) for conn in asker.get_network().get_connections(hidden.get_id())
                       for a in conn.get_transport_addresses())
            stream = await asker.new_stream(hidden.get_id(), [ECHO])
            await stream.write(b"through the relay")
            assert await stream.read(100) == b"through the relay"

            with trio.fail_after(30):  # DCUtR: loopback is a direct path
                while connection_path(asker, hidden.get_id()) != "direct":  # noqa: ASYNC110 (state of a library object, no event)
                    await trio.sleep(0.1)
            stream = await asker.new_stream(hidden.get_id(), [ECHO])
            await stream.write(b"direct")
            assert await stream.read(100) == b"direct"


async def test_a_relayed_address_without_a_relay_client_is_a_typed_error() -> None:
    async with running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as host:
        with pytest.raises(PeerUnreachable, match="relay"):
            await dial(host, parse_peer_addr(f"/ip4/127.0.0.1/tcp/9/p2p/{RELAY}/p2p-circuit/p2p/{ME}"), timeout_s=2)


def test_node_run_relay_via_without_peer_id_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    """``peermind node run --relay-via`` as typed: a bad relay address fails before any model loads."""
    done = subprocess.run([sys.executable, "-m", "peermind.node.cli", "node", "run", "--data-dir", str(tmp_path / "n"),
                           "--relay-via", "/ip4/10.0.0.1/tcp/4001"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "relay.via" in lines[0] and "/p2p/<peer id>" in lines[0], done.stderr
    assert not (tmp_path / "n").exists()
