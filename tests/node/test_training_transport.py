"""The training protocol over real libp2p hosts in one process (no LLM): fast, real sockets.

Covers what the multi-process tests cannot make deterministic: typed refusals
on the wire, messages outside an accepted run, a frame above the task cap,
and a peer dying inside a round with min_nodes still met or not.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from libp2p.peer.id import ID
from peermind.federated import (
    FeatureSchema,
    NotEnoughParticipants,
    RouterModel,
    TransportError,
    message_from_bytes,
    run_training,
)
from peermind.node.identity import load_or_create_identity
from peermind.node.p2p.host import PeerUnreachable, dial, full_addrs, parse_peer_addr, running_host
from peermind.node.p2p.streams import StreamEndpoint
from peermind.node.training._participant import Participant
from peermind.node.training._transport import LibP2PTransport
from peermind.node.training.errors import TrainingRefused
from peermind.protocol import (
    FL_PROTOCOL_ID,
    Signer,
    TrainInvite,
    TrainMessage,
    TrainReply,
    Verifier,
)
from training_kit import MODEL_KEYS, synthetic_rows

pytestmark = pytest.mark.integration

CAP = 9 * 1024 * 1024


@dataclass
class Peer:
    name: str
    host: object
    endpoint: StreamEndpoint
    participant: Participant
    scope: trio.CancelScope
    available: bool = True
    rounds: list[int] = field(default_factory=list)
    invited: bool = False

    def rounds_started(self) -> bool:
        """True once past the invitation (whose row check must stay fast)."""
        started, self.invited = self.invited, True
        return started

    @property
    def peer_id(self) -> str:
        return self.host.get_id().to_base58()  # type: ignore[attr-defined]


@asynccontextmanager
async def peers(
    tmp_path: Path, count: int, *, available: tuple[bool, ...] = (), empty: tuple[int, ...] = (),
    slow: dict[int, float] | None = None,
) -> AsyncIterator[list[Peer]]:
    data = synthetic_rows(count)
    for i in empty:
        data[i] = []
    out: list[Peer] = []
    async with trio.open_nursery() as nursery:
        for i in range(count):
            identity = load_or_create_identity(tmp_path / f"p{i}")
            ready: trio.Event = trio.Event()
            box: list[Peer] = []

            async def serve(i: int = i, identity=identity, ready=ready, box=box) -> None:  # type: ignore[no-untyped-def]
                with trio.CancelScope() as scope:
                    async with running_host(identity.libp2p_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as host:
                        endpoint = StreamEndpoint(
                            host, FL_PROTOCOL_ID, Signer(identity.private_key),
                            Verifier(max_frame_bytes=CAP), max_frame_bytes=CAP,
                            read_timeout_s=30.0, on_evidence=lambda *_: None,
                        )
                        rows = data[i]
                        delay = (slow or {}).get(i, 0.0)
                        peer = Peer(f"p{i}", host, endpoint, None, scope)  # type: ignore[arg-type]
                        peer.available = available[i] if i < len(available) else True

                        def split(rows=rows, delay=delay, peer=peer):  # type: ignore[no-untyped-def]
                            if delay and peer.rounds_started():
                                time.sleep(delay)  # a hung ClientApp (worker thread)
                            return rows[: len(rows) * 4 // 5], rows[len(rows) * 4 // 5 :]

                        peer.participant = Participant(
                            peer_id=identity.peer_id_b58,
                            rows=split,
                            available=lambda peer=peer: peer.available,
                            on_round=lambda run, rnd, coord, m, peer=peer: peer.rounds.append(rnd),
                        )

                        async def handle(envelope, sender, peer=peer):  # type: ignore[no-untyped-def]
                            body = envelope.body
                            if isinstance(body, TrainInvite):
                                return await peer.participant.on_invite(body, sender)
                            return await peer.participant.on_message(body, sender)

                        endpoint.serve(handle)
                        box.append(peer)
                        ready.set()
                        await trio.sleep_forever()

            nursery.start_soon(serve)
            await ready.wait()
            out.append(box[0])
        for i, a in enumerate(out):  # full mesh, as gossip would leave it
            for b in out[i + 1 :]:
                await dial(a.host, parse_peer_addr(full_addrs(b.host)[0]))  # type: ignore[arg-type]
        try:
            yield out
        finally:
            nursery.cancel_scope.cancel()


async def invite(coordinator: Peer, peer: Peer, run_id: str) -> TrainReply:
    body = TrainInvite(run_id=run_id, round=0, coordinator=coordinator.peer_id, deadline_ms=2**40)
    envelope = await coordinator.endpoint.call(ID.from_base58(peer.peer_id), body, timeout_s=10)
    return envelope.body  # type: ignore[return-value]


def transport_for(coordinator: Peer, members: list[Peer], run_id: str) -> LibP2PTransport:
    return LibP2PTransport(
        endpoint=coordinator.endpoint, run_id=run_id, self_peer=coordinator.peer_id,
        participants=[m.peer_id for m in members], local=coordinator.participant.handle,
        trio_token=trio.lowlevel.current_trio_token(),
    )


def initial() -> RouterModel:
    return RouterModel(FeatureSchema(version=1, model_keys=MODEL_KEYS))


async def test_refusals_are_typed_on_the_wire(tmp_path: Path) -> None:
    async with peers(tmp_path, 3, available=(True, True, False)) as (coord, member, refuser):
        reply = await invite(coord, refuser, "7")
        refusal = TrainingRefused.from_wire(reply.error)
        assert refusal is not None and refusal.reason == "training_disabled"
        assert "--no-join-training" in refusal.detail and reply.payload == b""

        # A message for a run the peer never accepted is refused, not executed.
        stray = TrainMessage(run_id="8", round=1, payload=b"not even flower")
        got = (await coord.endpoint.call(ID.from_base58(member.peer_id), stray, timeout_s=10)).body
        assert TrainingRefused.from_wire(got.error).reason == "unknown_run"  # type: ignore[union-attr]

        # Accepted from coord: a third party still cannot drive the run.
        assert (await invite(coord, member, "9")).error == ""
        got = (await refuser.endpoint.call(ID.from_base58(member.peer_id),
                                           TrainMessage(run_id="9", round=1, payload=b"x"), timeout_s=10)).body
        assert TrainingRefused.from_wire(got.error).reason == "unknown_run"  # type: ignore[union-attr]

        # Frames above the 4 MiB task cap pass on this protocol; garbage is reported, not run.
        big = TrainMessage(run_id="9", round=1, payload=b"\x00" * (5 * 1024 * 1024))
        got = (await coord.endpoint.call(ID.from_base58(member.peer_id), big, timeout_s=30)).body
        assert got.error.startswith("malformed")  # type: ignore[union-attr]
        assert member.rounds == []

    async with peers(tmp_path / "empty", 2, empty=(1,)) as (coord, dataless):
        reply = await invite(coord, dataless, "10")
        assert TrainingRefused.from_wire(reply.error).reason == "no_data"  # type: ignore[union-attr]
        assert dataless.participant.runs == {}


async def _run(transport: LibP2PTransport, **kw: object) -> object:
    call = functools.partial(run_training, transport, initial=initial(), round_timeout_s=5.0, **kw)
    return await trio.to_thread.run_sync(call)


async def test_rounds_survive_a_dying_peer_and_fail_cleanly_below_min_nodes(tmp_path: Path) -> None:
    async with peers(tmp_path, 3) as group:
        coord, _, victim = group
        for peer in group[1:]:
            assert (await invite(coord, peer, "11")).error == ""
        coord.participant.admit("11", coord.peer_id)
        transport = transport_for(coord, group, "11")
        kill_after = 2

        def on_round(event: object) -> None:  # worker thread: the victim's host goes away
            transport.round = event.round + 1  # type: ignore[attr-defined]
            if event.round == kill_after:  # type: ignore[attr-defined]
                trio.from_thread.run_sync(victim.scope.cancel)

        report = await _run(transport, rounds=5, min_nodes=2, progress=on_round)
        rounds = report.rounds  # type: ignore[attr-defined]
        assert [len(r.participants) for r in rounds] == [3, 3, 2, 2, 2]
        assert victim.peer_id in rounds[2].failed
        assert victim.peer_id in transport.gone and victim.peer_id not in rounds[4].asked
        assert victim.rounds == [1, 2]

    async with peers(tmp_path / "again", 3) as group:
        coord, _, victim = group
        for peer in group[1:]:
            await invite(coord, peer, "12")
        coord.participant.admit("12", coord.peer_id)
        transport = transport_for(coord, group, "12")

        def kill_in_round_two(event: object) -> None:
            transport.round = event.round + 1  # type: ignore[attr-defined]
            if event.round == 1:  # type: ignore[attr-defined]
                trio.from_thread.run_sync(victim.scope.cancel)

        with pytest.raises(NotEnoughParticipants) as failure:
            await _run(transport, rounds=3, min_nodes=3, progress=kill_in_round_two)
        assert "2" in str(failure.value) and "3" in str(failure.value)
        assert [r.round for r in failure.value.partial.rounds] == [1]  # type: ignore[attr-defined]


async def test_only_weights_and_metrics_leave_a_participant(tmp_path: Path) -> None:
    seen: list[bytes] = []
    async with peers(tmp_path, 2) as (coord, member):
        await invite(coord, member, "21")
        transport = transport_for(coord, [member], "21")
        original = transport._remote

        async def spy(peer: str, payload: bytes, timeout_s: float) -> bytes:
            reply = await original(peer, payload, timeout_s)
            seen.append(reply)
            return reply

        transport._remote = spy  # type: ignore[method-assign]
        await _run(transport, rounds=1, min_nodes=1)
    kinds = {}
    for raw in seen:
        msg = message_from_bytes(raw)
        kinds[msg.metadata.message_type] = msg
        content = msg.content
        assert list(content.config_records.keys()) == []
        for record in content.array_records.values():
            assert {k: tuple(record[k].shape) for k in record.keys()} == {"weights": (2, 384), "bias": (2,)}
        for record in content.metric_records.values():
            assert all(isinstance(v, float | int) for v in record.values())
    assert set(kinds) == {"train", "evaluate"}
    assert list(kinds["train"].content.array_records.keys()) == ["arrays"]
    assert list(kinds["evaluate"].content.array_records.keys()) == []


async def test_a_hung_peer_costs_its_own_reply_not_the_others(tmp_path: Path) -> None:
    async with peers(tmp_path, 3, slow={2: 6.0}) as group:
        coord, fast, hung = group
        for peer in (fast, hung):
            assert (await invite(coord, peer, "31")).error == ""
        coord.participant.admit("31", coord.peer_id)
        transport = transport_for(coord, group, "31")
        started = trio.current_time()
        call = functools.partial(run_training, transport, initial=initial(), round_timeout_s=2.0,
                                 rounds=2, min_nodes=2)
        report = await trio.to_thread.run_sync(call)
        for rd in report.rounds:
            assert set(rd.participants) == {coord.peer_id, fast.peer_id}
            assert "did not answer" in rd.failed[hung.peer_id]
        assert trio.current_time() - started < 2 * 2 * 2.0 + 3  # two rounds, two phases each


class _LinkDownEndpoint:
    """Stands in for the network edge only: every call fails as a dead link does."""

    protocol_id = FL_PROTOCOL_ID

    async def call(self, peer: ID, body: TrainMessage, *, timeout_s: float) -> object:
        raise PeerUnreachable(f"dial {peer.to_base58()[-6:]}: connection reset")


async def test_a_participant_whose_link_broke_is_asked_again_once_reconnected(tmp_path: Path) -> None:
    ids = [load_or_create_identity(tmp_path / f"p{i}").peer_id_b58 for i in range(3)]
    coord, lost, refuser = ids
    up: set[str] = set()
    transport = LibP2PTransport(
        endpoint=_LinkDownEndpoint(), run_id="13", self_peer=coord, participants=ids,  # type: ignore[arg-type]
        local=None, trio_token=trio.lowlevel.current_trio_token(), connected=lambda p: p in up,
    )
    replies = await trio.to_thread.run_sync(transport.exchange_many, {lost: b"x"}, 2.0)
    assert isinstance(replies[lost], TransportError) and lost in transport.gone
    transport.gone[refuser] = "refused:training_disabled"  # a refusal is for the whole run

    assert await trio.to_thread.run_sync(transport.peers) == [coord]  # not reconnected yet
    up.update({lost, refuser})  # the link is back (and the refuser happens to be connected)
    assert await trio.to_thread.run_sync(transport.peers) == [coord, lost]
    assert lost not in transport.gone and refuser in transport.gone
