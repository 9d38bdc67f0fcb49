"""A banned flooder's turned-away streams are held unread, within caps (node/trust_wiring/_tarpit.py)."""

from __future__ import annotations

import trio
import trio.abc
import trio.testing
from peermind.node.trust_wiring._tarpit import Tarpit


async def test_a_banned_peers_streams_are_held_then_released_and_others_pass_at_once(
        autojump_clock: trio.abc.Clock) -> None:
    banned = {"flooder"}
    held: list[int] = []
    tarpit = Tarpit(lambda peer: peer in banned, hold_s=15.0, per_peer=3, total=4, on_hold=lambda: held.append(1))
    done: list[tuple[str, float]] = []

    async def stream(peer: str) -> None:
        await tarpit.hold(peer)
        done.append((peer, trio.current_time()))

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(5):  # 3 held (per-peer cap), the other 2 reset at once
            nursery.start_soon(stream, "flooder")
        nursery.start_soon(stream, "honest")  # not banned: never held (it fails over to another peer)
        await trio.testing.wait_all_tasks_blocked()
        assert tarpit.held_total == 3 and len(done) == 3
        banned.add("second")
        for _ in range(3):  # the total cap (4) leaves room for one more
            nursery.start_soon(stream, "second")
        await trio.testing.wait_all_tasks_blocked()
        assert tarpit.held_total == 4
    waits = sorted(round(t - start, 3) for _peer, t in done)
    assert waits == [0.0] * 5 + [15.0] * 4
    assert tarpit.held_total == 0 and tarpit.streams_held == 4 and len(held) == 4
