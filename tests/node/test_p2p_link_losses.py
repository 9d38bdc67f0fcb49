"""A lost connection keeps the peer's ad while a re-dial brings it back; a flapping link or a
vanished peer loses it (``node/p2p/link_losses.py``). The last tests run real py-libp2p hosts
on loopback sockets in this process."""

from __future__ import annotations

import secrets

import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from peermind.node.p2p.ads import AdBoard
from peermind.node.p2p.host import dial, full_addrs, is_connected, parse_peer_addr
from peermind.node.p2p.link_losses import LinkLosses
from test_p2p_ads_flood import _advertising


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_loss_in_the_window_is_a_blip_a_second_one_is_a_flapping_link() -> None:
    clock = _Clock()
    losses = LinkLosses(window_s=30.0, now=clock)
    assert not losses.lost("a")
    clock.now = 10.0
    assert losses.lost("a")  # second within 30 s
    assert not losses.lost("b")  # per peer
    clock.now = 100.0
    assert not losses.lost("a")  # the old ones left the window
    clock.now = 100.01
    assert losses.lost("a") and losses.lost("a")  # and every loss while they keep coming


async def _wait(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110 - boards are plain objects
            await trio.sleep(0.05)


async def test_a_lost_connection_keeps_the_ad_while_the_redial_succeeds_and_a_flapping_link_drops_it() -> None:
    network = f"t{secrets.token_hex(3)}"
    keys = [create_new_key_pair() for _ in range(2)]
    boards = [AdBoard(), AdBoard()]
    b_id = ID.from_pubkey(keys[1].public_key)
    async with _advertising(network, keys[0], boards[0]) as a, _advertising(network, keys[1], boards[1]) as b:
        await dial(a, parse_peer_addr(full_addrs(b)[0]))
        await _wait(lambda: all(len(board.fresh()) == 1 for board in boards), 20, "both ads")
        await trio.sleep(0.6)  # past two connection polls: a loss is noticed only of a connection seen
        await a.disconnect(b_id)
        for _ in range(30):  # 3 s: never missing, however the polls fall
            assert boards[0].get(b_id.to_base58()) is not None
            await trio.sleep(0.1)
        assert is_connected(a, b_id)
        await a.disconnect(b_id)  # a second loss within the window: the link flaps
        await _wait(lambda: boards[0].get(b_id.to_base58()) is None, 2, "the flapping peer's ad to go")


async def test_a_vanished_peers_ad_goes_when_the_redial_fails() -> None:
    network = f"t{secrets.token_hex(3)}"
    keys = [create_new_key_pair() for _ in range(2)]
    boards = [AdBoard(), AdBoard()]
    b_id = ID.from_pubkey(keys[1].public_key).to_base58()
    async with _advertising(network, keys[0], boards[0]) as a:
        async with _advertising(network, keys[1], boards[1]) as b:
            await dial(a, parse_peer_addr(full_addrs(b)[0]))
            await _wait(lambda: boards[0].get(b_id) is not None, 20, "b's ad")
            await trio.sleep(0.6)  # seen by the connection polls
        await _wait(lambda: boards[0].get(b_id) is None, 12, "the vanished peer's ad to go")
