"""run_training with real Flower strategies over the in-process transport."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import numpy as np
import pytest
from fed_testkit import build_network, heldout, initial_router, poison_mod, task
from flwr.app import Context, Message, MetricRecord
from flwr.clientapp.typing import ClientAppCallable
from peermind.federated import (
    STRATEGY_NAMES,
    FederatedClient,
    InProcessTransport,
    InvalidTrainingConfig,
    NotEnoughParticipants,
    RoundEvent,
    TrainingReport,
    TransportError,
    make_client_app,
    run_training,
)
from peermind.federated._reputation_strategy import weighted_trimmed_mean
from peermind.federated._synthetic import node_datasets

pytestmark = pytest.mark.integration


def _accuracy(report: TrainingReport, t) -> float:
    return report.model().evaluate(heldout(t))["accuracy"]


@pytest.mark.parametrize("nodes", [3, 8])
def test_two_rounds_train_the_router(nodes: int) -> None:
    transport, t, names = build_network(nodes)
    events: list[RoundEvent] = []
    initial = initial_router()
    report = run_training(
        transport, rounds=2, min_nodes=nodes, initial=initial, progress=events.append
    )
    assert [e.round for e in events] == [1, 2] and all(e.rounds == 2 for e in events)
    assert [r.round for r in report.rounds] == [1, 2]
    for r in report.rounds:
        assert sorted(r.participants) == sorted(names) == sorted(r.asked)
        assert r.failed == {} and r.excluded == {}
        assert r.train_metrics["num-examples"] > 0
        assert 0.0 <= r.validation["accuracy"] <= 1.0
    assert not np.allclose(report.final_arrays[0], initial.to_arrays()[0])
    assert report.rounds[1].validation["log-loss"] < report.rounds[0].validation["log-loss"]
    before = initial.evaluate(heldout(t))["accuracy"]
    assert _accuracy(report, t) > before + 0.2
    assert report.to_dict()["rounds"][0]["participants"]


def test_dead_peer_is_dropped_and_round_completes() -> None:
    transport, t, names = build_network(4)
    transport.down.add("peer-2")
    report = run_training(transport, rounds=2, min_nodes=3, initial=initial_router())
    for r in report.rounds:
        assert sorted(r.participants) == ["peer-0", "peer-1", "peer-3"]
        assert "unreachable" in r.failed["peer-2"]
    assert _accuracy(report, t) > 0.75


def test_too_few_replies_fail_cleanly_with_counts() -> None:
    transport, _, _ = build_network(3)
    transport.down.add("peer-1")
    with pytest.raises(NotEnoughParticipants) as info:
        run_training(transport, rounds=2, min_nodes=3, initial=initial_router())
    err = info.value
    assert (err.round, err.replied, err.required, err.available) == (1, 2, 3, 3)
    assert "peer-1" in err.failed and "min_nodes=3" in str(err)
    assert isinstance(err.partial, TrainingReport) and err.partial.rounds == []


def test_too_few_reachable_peers_fail_before_sending() -> None:
    transport, _, _ = build_network(2)
    with pytest.raises(NotEnoughParticipants, match="reachable") as info:
        run_training(transport, rounds=1, min_nodes=3, initial=initial_router())
    assert info.value.available == 2 and transport.exchanges == 0


class _HangingTransport(InProcessTransport):
    """One peer never answers and ignores the timeout (a stuck stream)."""

    def __init__(self, clients: Mapping[str, FederatedClient], stuck: str) -> None:
        super().__init__(clients)
        self.stuck = stuck
        self.release = threading.Event()

    def exchange(self, peer: str, payload: bytes, timeout_s: float) -> bytes:
        if peer == self.stuck:
            self.release.wait(60)
            raise TransportError("released")
        return super().exchange(peer, payload, timeout_s)


def test_hanging_peer_does_not_stall_the_round() -> None:
    base, _, _ = build_network(4)
    transport = _HangingTransport(base.clients, stuck="peer-3")
    try:
        started = time.monotonic()
        report = run_training(
            transport, rounds=1, min_nodes=3, round_timeout_s=0.5, initial=initial_router()
        )
        elapsed = time.monotonic() - started
    finally:
        transport.release.set()
    assert "no reply within 0.5 s" in report.rounds[0].failed["peer-3"]
    assert "peer-3" not in report.rounds[0].participants
    assert elapsed < 30  # bounded by the round timeout (x2 phases), not by the stuck peer (60 s)


def test_poisoned_peer_ruins_fedavg_but_not_reputation_weighting() -> None:
    def run(strategy: str, attacked: bool, attacker_reputation: float = 1.0) -> float:
        transport, t, _ = build_network(8, seed=0, mods={7: [poison_mod]} if attacked else None)

        def reputation(peer: str) -> float:
            return attacker_reputation if peer == "peer-7" else 1.0

        report = run_training(
            transport,
            rounds=3,
            min_nodes=6,
            strategy=strategy,
            initial=initial_router(),
            reputation=reputation if strategy == "reputation" else None,
        )
        if strategy == "reputation" and attacked:
            last = report.rounds[-1]
            assert "peer-7" in last.excluded or "peer-7" in last.clipped
        return _accuracy(report, t)

    clean = run("fedavg", attacked=False)
    assert clean > 0.8
    assert run("fedavg", attacked=True) < clean - 0.25
    # attacker below the floor: not asked at all
    assert run("reputation", attacked=True, attacker_reputation=0.0) > clean - 0.02
    # attacker above the floor but low: its update is clipped and down-weighted
    assert run("reputation", attacked=True, attacker_reputation=0.3) > clean - 0.02


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_each_named_strategy_runs(strategy: str) -> None:
    transport, t, names = build_network(5)
    report = run_training(
        transport,
        rounds=2,
        min_nodes=4,
        strategy=strategy,
        initial=initial_router(),
        reputation=(lambda peer: 0.9) if strategy == "reputation" else None,
    )
    assert report.strategy == strategy
    assert len(report.rounds) == 2 and len(report.rounds[-1].participants) == 5
    assert _accuracy(report, t) > 0.75


class _BatchTransport(InProcessTransport):
    """Implements the exchange_many fast path (sequentially: enough to test the grid's use of it)."""

    batches = 0

    def exchange_many(self, payloads: Mapping[str, bytes], timeout_s: float) -> dict[str, object]:
        self.batches += 1
        out: dict[str, object] = {}
        for peer, payload in payloads.items():
            try:
                out[peer] = self.exchange(peer, payload, timeout_s)
            except TransportError as exc:
                out[peer] = exc
        return out


def test_batch_transport_is_used_when_offered() -> None:
    base, t, _ = build_network(4)
    transport = _BatchTransport(base.clients)
    transport.down.add("peer-0")
    report = run_training(transport, rounds=2, min_nodes=3, initial=initial_router())
    assert transport.batches == 4  # 2 rounds x (train + evaluate)
    assert "peer-0" in report.rounds[0].failed
    assert _accuracy(report, t) > 0.75


def _extra_record_mod(msg: Message, ctx: Context, call_next: ClientAppCallable) -> Message:
    reply = call_next(msg, ctx)
    reply.content["leak"] = MetricRecord({"secret": 1.0})
    return reply


class _ImpersonatingTransport(InProcessTransport):
    """Answers for peer-1 with a reply produced by peer-0."""

    def exchange(self, peer: str, payload: bytes, timeout_s: float) -> bytes:
        if peer == "peer-1":
            from peermind.federated._flower_compat import message_from_bytes, message_to_bytes

            msg = message_from_bytes(payload)
            msg.metadata.dst_node_id = self.clients["peer-0"].node_id
            return self.clients["peer-0"].handle(message_to_bytes(msg))
        return super().exchange(peer, payload, timeout_s)


def test_malformed_and_impersonating_replies_are_dropped() -> None:
    base, t, _ = build_network(5, mods={4: [_extra_record_mod]})
    transport = _ImpersonatingTransport(base.clients)
    report = run_training(transport, rounds=1, min_nodes=3, initial=initial_router())
    r = report.rounds[0]
    assert "reply records" in r.failed["peer-4"]
    assert "does not answer" in r.failed["peer-1"]
    assert sorted(r.participants) == ["peer-0", "peer-2", "peer-3"]


def test_progress_callback_failure_does_not_abort_training() -> None:
    transport, _, _ = build_network(3)

    def broken(_event: RoundEvent) -> None:
        raise RuntimeError("UI went away")

    report = run_training(
        transport, rounds=2, min_nodes=3, initial=initial_router(), progress=broken
    )
    assert len(report.rounds) == 2


def test_client_side_clipping_end_to_end() -> None:
    """Server sends clipping_norm; each node's fixedclipping_mod clips its own update."""
    t = task()
    data = node_datasets(t, 3, queries_per_node=60, seed=1)
    transport = InProcessTransport(
        {
            f"peer-{i}": FederatedClient.for_peer(
                make_client_app(lambda tr=tr, va=va: (tr, va), fixed_clipping=True), f"peer-{i}"
            )
            for i, (tr, va) in enumerate(data)
        }
    )
    initial = initial_router()
    report = run_training(
        transport, rounds=1, min_nodes=3, initial=initial, client_clipping_norm=0.05
    )
    step = np.concatenate(
        [(a - b).ravel() for a, b in zip(report.final_arrays, initial.to_arrays(), strict=True)]
    )
    assert 0 < np.linalg.norm(step) <= 0.05 + 1e-5  # the mean of clipped updates


def test_reputation_is_looked_up_by_authenticated_peer_id() -> None:
    transport, _, names = build_network(4)
    asked: list[str] = []

    def reputation(peer: str) -> float:
        asked.append(peer)
        if peer == "peer-3":
            raise RuntimeError("trust store unavailable")  # counts as 0 -> excluded
        return 1.0

    report = run_training(
        transport,
        rounds=1,
        min_nodes=3,
        strategy="reputation",
        initial=initial_router(),
        reputation=reputation,
    )
    assert set(asked) == set(names)
    assert "below floor" in report.rounds[0].excluded["peer-3"]
    assert "peer-3" not in report.rounds[0].participants


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strategy": "nope"},
        {"strategy": "reputation"},
        {"rounds": 0},
        {"min_nodes": 0},
        {"round_timeout_s": -1.0},
        {"initial": "not a router"},
    ],
)
def test_invalid_arguments_raise_typed_errors(kwargs: dict) -> None:
    transport, _, _ = build_network(1)
    args = {"rounds": 1, "min_nodes": 1, "initial": initial_router(), **kwargs}
    with pytest.raises(InvalidTrainingConfig):
        run_training(transport, **args)
    assert transport.exchanges == 0


def test_weighted_trimmed_mean() -> None:
    values = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0], [100.0, -100.0]])
    weights = np.array([1.0, 1.0, 3.0, 1.0])
    out = weighted_trimmed_mean(values, weights, beta=0.25)  # drop 1 lowest + 1 highest
    assert out == pytest.approx([(1 * 1 + 2 * 3) / 4, (10 * 1 + 11 * 1) / 2])
