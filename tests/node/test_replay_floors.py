"""Replay protection across a restart (node/p2p/replay_floors.py) on the real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.lowlevel
from peermind.node.p2p.replay_floors import ReplayFloors
from peermind.node.store import Store
from peermind.protocol import ReplayedNonce, Signer, TaskRefusal, Verifier, seal

NOW_MS = 1_800_000_000_000
WINDOW_MS = 30_000


def _message(signer: Signer, i: int, at_ms: int) -> bytes:
    return seal(signer, TaskRefusal(task_id=bytes([i]) * 16, reason="busy"), "", now_ms=at_ms, nonce=bytes([i]) * 16)


def _run(store: Store) -> tuple[Verifier, ReplayFloors]:
    """A (re)started node: a fresh verifier whose floors come from the store."""
    verifier = Verifier(max_skew_s=WINDOW_MS / 1000)
    floors = ReplayFloors(store, verifier, window_ms=WINDOW_MS)
    floors.restore(now_ms=NOW_MS)
    return verifier, floors


def test_envelopes_accepted_before_a_restart_are_refused_after_it(tmp_path: Path) -> None:
    alice, bob = Signer.generate(), Signer.generate()
    store = Store.open(tmp_path / "node.db")
    verifier, floors = _run(store)
    captured = [_message(alice, i, NOW_MS - 1000 + i) for i in range(3)] + [_message(bob, 9, NOW_MS - 500)]
    for data in captured:
        verifier.open(data, now_ms=NOW_MS)
    floors.flush()
    store.close()

    store = Store.open(tmp_path / "node.db")  # the restart: a new process would open the same file
    after, _ = _run(store)
    for data in captured:
        with pytest.raises(ReplayedNonce):
            after.open(data, now_ms=NOW_MS + 1000)
    after.open(_message(alice, 5, NOW_MS + 900), now_ms=NOW_MS + 1000)  # new messages pass
    assert store.replay_floors(0) == {alice.peer_id: NOW_MS - 998, bob.peer_id: NOW_MS - 500}
    # senders silent for longer than the window are pruned at the next start
    _run_later = ReplayFloors(store, Verifier(), window_ms=WINDOW_MS)
    _run_later.restore(now_ms=NOW_MS + 10 * WINDOW_MS)
    assert store.replay_floors(0) == {}


async def test_the_flush_loop_writes_on_cancel(tmp_path: Path) -> None:
    alice = Signer.generate()
    store = Store.open(tmp_path / "node.db")
    verifier, floors = _run(store)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(floors.run)
        verifier.open(_message(alice, 1, NOW_MS), now_ms=NOW_MS)
        await trio.lowlevel.checkpoint()
        nursery.cancel_scope.cancel()  # a clean stop: the final flush still runs
    assert store.replay_floors(0) == {alice.peer_id: NOW_MS}
