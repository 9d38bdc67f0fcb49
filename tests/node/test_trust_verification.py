"""Canaries and cross-checks, with fake peers answering through a fake ``attempt``."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from peermind.bench import Item
from peermind.node.collab.answer import Answer, Attempt, Contribution
from peermind.node.collab.candidates import Candidate
from peermind.node.collab.job import Job
from peermind.node.trust_wiring import (
    Canary,
    CanaryDeck,
    CanaryOutcome,
    TrustLedger,
    TrustMetrics,
    Verification,
    ignore_outcome,
    judge,
)
from peermind.protocol import ContinuationScore, TaskResult
from peermind.trust import Evidence, EvidenceRecord, ModelBaseline, Standing, TrustParams
from prometheus_client import CollectorRegistry

ME = "12D3KooWSdsuHDXWSdrh1G7LfD1TE2Ac7KobyiGuqZzDwg3Ha4BZ"
HONEST = "12D3KooWKdCVYkdtL6HWrU4dEKXgMShvMou7148nCCkrWXxskpNW"
LIAR = "12D3KooWPGjVbqiS2VE2G1yMqsJHXGHEHJrTd7Cue7JmKzHKUmEE"
USER_JOB = Job(kind="score", prompt="Question: Which is a mammal?\nAnswer:", continuations=(" cat", " fish"))

Behaviour = Callable[[Job, Canary | None], int]  # which choice a peer picks


def _candidate(peer: str, *, local: bool = False, params_m: float = 135.0, model: str = "smollm2") -> Candidate:
    return Candidate(peer_id=peer, is_local=local, model=model, family="llama", params_m=params_m,
                     gen_tps=50.0, prompt_tps=500.0, queue_depth=0, max_queue=8, max_concurrency=1,
                     cost_per_1k=0.1, tags=())


def _items(n: int = 12) -> list[Canary]:
    out = []
    for i in range(n):
        item = Item(id=f"arc_easy/q{i}", dataset="arc_easy", query=f"Question number {i}?",
                    choices=("alpha", "beta", "gamma", "delta"), gold=i % 4, answer=None, kind="mc")
        out.append(Canary(item.id, item))
    return out


def _scores(choice: int, n: int, margin: float) -> list[ContinuationScore]:
    return [ContinuationScore(logprob=-0.1 if i == choice else -0.1 - margin, n_tokens=1) for i in range(n)]


class Network:
    """Fake peers: each maps (job) -> chosen option; this node's own model too."""

    def __init__(self, canaries: list[Canary]) -> None:
        self.by_prompt = {c.job(USER_JOB).prompt: c for c in canaries}
        self.behaviour: dict[str, Behaviour] = {}
        self.calls: list[tuple[str, str]] = []

    async def attempt(self, job: Job, candidate: Candidate, timeout_s: float) -> tuple[TaskResult | None, Attempt]:
        self.calls.append((candidate.peer_id, job.prompt))
        canary = self.by_prompt.get(job.prompt)
        choice = self.behaviour[candidate.peer_id](job, canary)
        margin = 6.0 if candidate.peer_id == LIAR else 0.5
        result = TaskResult(task_id=b"\1" * 16, scores=_scores(choice, len(job.continuations), margin))
        return result, Attempt(candidate.peer_id, "smollm2", "ok", 5.0)


def gold(_job: Job, canary: Canary | None) -> int:
    return canary.gold if canary else 0


def liar(_job: Job, canary: Canary | None) -> int:
    return (canary.gold + 1) % 4 if canary else 1


def _verification(net: Network, *, canary_rate: float = 1.0, cross_check_rate: float = 0.0,
                  seed: int = 1, honest_model: str = "smollm2", local_answers: bool = False,
                  outcomes: list[CanaryOutcome] | None = None,
                  **params: float) -> tuple[Verification, TrustLedger, CollectorRegistry]:
    registry = CollectorRegistry()
    ledger = TrustLedger(TrustParams(weights={Evidence.ANSWER_WRONG: -2.0}, **params), None)
    candidates = [_candidate(ME, local=True), _candidate(HONEST, model=honest_model),
                  _candidate(LIAR, params_m=6750.0)]

    async def run_local(job: Job) -> TaskResult | None:  # this node's model, as TrustWiring runs it
        result, _attempt = await net.attempt(job, candidates[0], 30.0)
        return result

    v = Verification(ledger, TrustMetrics(registry), attempt=net.attempt, candidates=lambda: candidates,
                     should_ask=ledger.book.should_ask, self_id=ME, canary_rate=canary_rate,
                     cross_check_rate=cross_check_rate, timeout_s=30.0, rng=random.Random(seed),
                     baseline=ModelBaseline(own_model="smollm2"), own_model="smollm2",
                     run_local=run_local if local_answers else None,
                     on_outcome=outcomes.append if outcomes is not None else ignore_outcome)
    return v, ledger, registry


async def test_a_confidently_wrong_peer_is_excluded_by_canaries_and_an_honest_one_is_not(tmp_path: Path) -> None:
    canaries = _items()
    net = Network(canaries)
    net.behaviour = {ME: gold, HONEST: gold, LIAR: liar}
    v, ledger, registry = _verification(net)
    v.deck = CanaryDeck(canaries, tmp_path / "screen.json", "smollm2")
    for _ in range(20):
        await v.maybe_canary(USER_JOB)
    book = ledger.book
    assert book.standing(LIAR) in (Standing.DO_NOT_ASK, Standing.BANNED)
    assert ledger.exclusions[LIAR].interactions <= 12
    assert book.should_ask(HONEST) and book.score(HONEST) > 0.3
    assert registry.get_sample_value("peermind_trust_canaries_total", {"outcome": "wrong"}) >= 4
    # the lure (a 50x bigger claimed model) made the liar the first target
    assert net.calls[1][0] == LIAR
    # canaries are shaped like the user's question: a score job with the item's choices
    asked = [p for peer, p in net.calls if peer == HONEST]
    assert asked and all(p.startswith("Question: Question number") for p in asked)


async def test_overconfident_wrong_answers_are_flagged_as_miscalibrated(tmp_path: Path) -> None:
    canaries = _items()
    net = Network(canaries)
    net.behaviour = {ME: gold, HONEST: gold, LIAR: liar}
    # thresholds low enough that the liar stays askable for long enough to be measured
    v, ledger, _registry = _verification(net, ask_threshold=0.04, ban_threshold=0.04)
    v.deck = CanaryDeck(canaries, None, "smollm2")
    for _ in range(12):
        await v.maybe_canary(USER_JOB)
    assert ledger.book.counts(LIAR)[Evidence.CONFIDENCE_MISCALIBRATED] >= 1
    assert Evidence.CONFIDENCE_MISCALIBRATED not in ledger.book.counts(HONEST)


async def test_any_item_can_be_a_canary_and_this_nodes_own_model_answers_each_once(tmp_path: Path) -> None:
    canaries = _items(8)
    net = Network(canaries)
    own_right = {c.key for c in canaries[:3]}

    def smollm2(_job: Job, c: Canary | None) -> int:  # this node's model, and the honest peer's
        return c.gold if c and c.key in own_right else (c.gold + 2) % 4 if c else 0

    net.behaviour = {ME: smollm2, HONEST: smollm2, LIAR: liar}
    outcomes: list[CanaryOutcome] = []
    v, ledger, registry = _verification(net, local_answers=True, outcomes=outcomes)
    v.deck = CanaryDeck(canaries, tmp_path / "local.json", "smollm2")
    for _ in range(16):
        await v.maybe_canary(USER_JOB)
    sent = {p for peer, p in net.calls if peer != ME}
    missed = {c.job(USER_JOB).prompt for c in canaries if c.key not in own_right}
    assert len(sent) >= 6 and sent & missed  # no screening: items this node's model misses go out too
    # this node's model answered each item once, before it was sent: cached, in the baseline, reported
    asked_locally = [p for peer, p in net.calls if peer == ME]
    assert sorted(asked_locally) == sorted(sent)
    by_prompt = {c.job(USER_JOB).prompt: c.key for c in canaries}
    sent_keys = {by_prompt[p] for p in sent}
    n_right = len(sent_keys & own_right)
    assert v.baseline.counts("smollm2", leave_out={HONEST, LIAR}) == (n_right, len(sent_keys))
    local = [o for o in outcomes if o.local]
    assert len(local) == len(sent_keys) and {o.item_key for o in local if o.correct} == sent_keys & own_right
    assert all(o.peer_id == ME and o.model == "smollm2" and o.dataset == "arc_easy" for o in local)
    remote = [o for o in outcomes if not o.local]
    assert len(remote) >= 8 and {o.peer_id for o in remote} <= {HONEST, LIAR}
    assert all(o.correct == (o.item_key in own_right) for o in remote if o.peer_id == HONEST)
    assert not any(o.correct for o in remote if o.peer_id == LIAR)
    assert all(o.job.kind == "score" and o.job.prompt.startswith("Question: Question number") for o in remote)
    # the honest peer (same model: right exactly where this node's model is) is askable; the liar is not
    assert ledger.book.should_ask(HONEST) and not ledger.book.should_ask(LIAR)
    assert registry.get_sample_value("peermind_trust_canaries_total", {"outcome": "unusable"}) is None
    # this node's answers persist for the next start (same model only) and restore its baseline
    again = CanaryDeck(canaries, tmp_path / "local.json", "smollm2")
    assert {k.split("/", 1)[1] for k, right in again.local_verdicts().items() if right} == sent_keys & own_right
    v2, _, _ = _verification(net)
    assert v2.restore_local(again) == len(sent_keys) and v2.baseline.counts("smollm2") == (n_right, len(sent_keys))
    assert CanaryDeck(canaries, tmp_path / "local.json", "gemma3-270m").local_verdicts() == {}


async def test_an_honest_weak_peer_is_judged_against_its_own_model_not_this_nodes(tmp_path: Path) -> None:
    """Gemma at ~30% while this node's model gets every item right: the old rule took it for a liar."""
    canaries = _items(40)
    net = Network(canaries)
    net.behaviour = {ME: gold, LIAR: liar,
                     HONEST: lambda job, c: c.gold if c and int(c.key.rsplit("q", 1)[1]) % 10 < 3 else
                     ((c.gold + 1) % 4 if c else 0)}
    v, ledger, _registry = _verification(net, honest_model="gemma3-270m", local_answers=True)
    v.deck = CanaryDeck(canaries, None, "smollm2")
    for _ in range(50):
        await v.maybe_canary(USER_JOB)
    book = ledger.book
    honest_canaries = book.counts(HONEST)
    assert honest_canaries[Evidence.ANSWER_WRONG] >= 20 and honest_canaries[Evidence.ANSWER_RIGHT] >= 8
    assert book.should_ask(HONEST) and book.score(HONEST) > ledger.params.prior_mean
    assert not book.should_ask(LIAR)
    # what the old rule (-2 wrong / +1 right on the same answers) would have said
    old = TrustParams(weights={Evidence.ANSWER_WRONG: -2.0})
    flat = (old.prior_alpha + honest_canaries[Evidence.ANSWER_RIGHT]) / (
        old.prior_alpha + old.prior_beta + honest_canaries[Evidence.ANSWER_RIGHT] + 2 * honest_canaries[Evidence.ANSWER_WRONG])
    assert flat < 0.2


async def test_no_canary_without_the_coin_or_without_data() -> None:
    net = Network(_items())
    net.behaviour = {ME: gold, HONEST: gold, LIAR: liar}
    v, ledger, _registry = _verification(net, canary_rate=0.0)
    v.deck = CanaryDeck(_items(), None, "smollm2")
    for _ in range(10):
        assert await v.maybe_canary(USER_JOB) is None
    v2, _, _ = _verification(net, canary_rate=1.0)
    assert await v2.maybe_canary(USER_JOB) is None  # deck not loaded (no validation data)
    assert net.calls == [] and len(ledger.book) == 0


def _answer(by: str, choice: int) -> Answer:
    return Answer(text="", mode="route", answered_by=by, model="smollm2", confidence=0.6, cost=0.0,
                  latency_ms=10.0, choice=choice,
                  contributions=(Contribution(by, "smollm2", 0.6, 0.0, 10.0, choice=choice),))


async def test_cross_check_blames_only_the_side_the_third_source_contradicts() -> None:
    net = Network([])
    net.behaviour = {ME: lambda j, c: 0, HONEST: lambda j, c: 0, LIAR: lambda j, c: 1}
    v, ledger, registry = _verification(net, cross_check_rate=1.0)
    records = await v.cross_check(USER_JOB, _answer(LIAR, 1))
    assert [(r.peer, r.kind) for r in records] == [
        (LIAR, Evidence.CROSS_CHECK_DISAGREE), (HONEST, Evidence.CROSS_CHECK_AGREE)]
    assert ledger.book.counts(LIAR)[Evidence.CROSS_CHECK_DISAGREE] == 1
    # when both peers agree no third source is consulted and nothing is recorded
    net.calls.clear()
    net.behaviour[LIAR] = lambda j, c: 0
    assert await v.cross_check(USER_JOB, _answer(HONEST, 0)) == []
    assert [peer for peer, _ in net.calls] == [LIAR]
    assert registry.get_sample_value("peermind_trust_cross_checks_total", {"outcome": "blamed"}) == 1


async def test_cross_checks_never_send_a_locally_answered_question_out() -> None:
    net = Network([])
    net.behaviour = {ME: gold, HONEST: gold, LIAR: liar}
    v, _ledger, _registry = _verification(net, canary_rate=0.0, cross_check_rate=1.0)
    await v.verify(USER_JOB, _answer(ME, 0))
    assert net.calls == []


def test_judging_canary_replies() -> None:
    canary = _items(1)[0]
    job = canary.job(USER_JOB)
    right = judge(canary, job, TaskResult(task_id=b"\1" * 16, scores=_scores(canary.gold, 4, 3.0)))
    assert right.evidence is Evidence.ANSWER_RIGHT and right.confidence > 0.85
    short = judge(canary, job, TaskResult(task_id=b"\1" * 16, scores=_scores(0, 2, 1.0)))
    assert short.evidence is Evidence.ANSWER_WRONG
    gen_job = canary.job(Job.question("hi", max_tokens=16))
    assert gen_job.kind == "generate" and "Options: alpha; beta; gamma; delta" in gen_job.messages[0].content
    said = judge(canary, gen_job, TaskResult(task_id=b"\1" * 16, text="alpha, because", confidence=-0.1))
    assert said.evidence is Evidence.ANSWER_RIGHT and said.confidence == pytest.approx(0.905, abs=1e-3)


async def test_idle_probes_make_an_honest_newcomer_trusted_and_exclude_a_liar(tmp_path: Path) -> None:
    canaries = _items(40)
    net = Network(canaries)
    net.behaviour = {ME: gold, HONEST: gold, LIAR: liar}
    v, ledger, _registry = _verification(net, canary_rate=0.0)
    v.deck = CanaryDeck(canaries, tmp_path / "screen.json", "smollm2")
    book = ledger.book
    params = ledger.params
    assert book.score(HONEST) < params.trusted_threshold  # a newcomer
    for _ in range(60):
        await v.probe_once()
    assert book.score(HONEST) >= params.trusted_threshold
    assert not book.should_ask(LIAR)
    # bounded: nobody is owed a probe any more (trusted, or excluded), so probing stops
    assert v.probe_target() is None
    sent = len(net.calls)
    assert await v.probe_once() is None and len(net.calls) == sent
    assert sum(1 for peer, _ in net.calls if peer == HONEST) <= 2 * params.probation_interactions


async def test_after_the_start_up_probes_probing_runs_only_while_the_node_is_idle(tmp_path: Path) -> None:
    canaries = _items()
    net = Network(canaries)

    def half_right(_job: Job, c: Canary | None) -> int:  # never trusted: owed probes all along
        return c.gold if c and int(c.key.rsplit("q", 1)[1]) % 2 else ((c.gold + 1) % 4 if c else 0)

    net.behaviour = {ME: gold, HONEST: half_right, LIAR: half_right}
    v, _ledger, _registry = _verification(net, canary_rate=0.0)
    v.deck = CanaryDeck(canaries, tmp_path / "screen.json", "smollm2")
    busy = True
    with trio.move_on_after(0.5):
        await v.probe_newcomers(0.01, lambda: not busy)
    # a busy node still judges its newcomers (3 probes each), then waits for idle time
    assert sorted(peer for peer, _ in net.calls) == sorted([HONEST, LIAR] * 3)
    with trio.move_on_after(0.5):
        await v.probe_newcomers(0.01, lambda: not busy)
    assert len(net.calls) == 6
    busy = False
    with trio.move_on_after(0.5):
        await v.probe_newcomers(0.01, lambda: not busy)
    assert len(net.calls) > 6


async def test_a_newcomer_is_probed_within_seconds_of_appearing_then_at_the_interval(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    canaries = _items(40)
    net = Network(canaries)
    def half_right(_job: Job, c: Canary | None) -> int:  # never trusted: owed probes all along
        return c.gold if c and int(c.key.rsplit("q", 1)[1]) % 2 else ((c.gold + 1) % 4 if c else 0)

    net.behaviour = {ME: gold, HONEST: half_right, LIAR: half_right}
    v, _ledger, _registry = _verification(net, canary_rate=0.0)
    v.deck = CanaryDeck(canaries, None, "smollm2")
    probes: list[tuple[float, str]] = []
    attempt = net.attempt

    async def timed(job: Job, candidate: Candidate, timeout_s: float) -> tuple[TaskResult | None, Attempt]:
        probes.append((trio.current_time(), candidate.peer_id))
        return await attempt(job, candidate, timeout_s)

    v._attempt = timed
    start = trio.current_time()
    with trio.move_on_after(250):
        await v.probe_newcomers(60.0, lambda: True)
    first = {peer: min(t for t, p in probes if p == peer) - start for peer in (HONEST, LIAR)}
    assert max(first.values()) < 5.0  # both newcomers judged within seconds, not after the 60 s interval
    startup = [p for t, p in probes if t - start < 15]
    assert sorted(startup) == sorted([HONEST, LIAR] * 3)  # STARTUP_PROBES each, at the start-up pace
    later = [t - start for t, p in probes if t - start >= 15]
    assert 2 <= len(later) <= 6  # then one every ~60 s (jittered), as before
    assert all(b - a >= 30 for a, b in zip(later, later[1:], strict=False))


async def test_a_peer_excluded_by_canary_verdicts_alone_is_still_probed_so_it_can_come_back() -> None:
    canaries = _items(40)
    net = Network(canaries)
    net.behaviour = {ME: gold, HONEST: gold, LIAR: liar}
    v, ledger, _registry = _verification(net, canary_rate=0.0)
    v.deck = CanaryDeck(canaries, None, "smollm2")
    book = ledger.book
    for _ in range(12):
        await v.probe_once()
    assert book.score(HONEST) >= ledger.params.trusted_threshold and not book.should_ask(LIAR)
    assert not book.is_banned(LIAR)  # canary verdicts alone: do_not_ask, never banned
    assert v.probe_target() is not None and v.probe_target().peer_id == LIAR  # nobody else is owed one
    net.behaviour[LIAR] = gold  # it was an honest peer on a bad streak after all
    for _ in range(3):
        await v.probe_once()
    assert book.should_ask(LIAR)
    # a peer with proof against it as well (a protocol violation) is not probed back
    for _ in range(4):
        book.record(EvidenceRecord(HONEST, Evidence.ANSWER_WRONG, llr=-2.0))
    assert not book.should_ask(HONEST) and v._redeemable(_candidate(HONEST))
    book.record(EvidenceRecord(HONEST, Evidence.PROTOCOL_VIOLATION, detail="schema: odd reply"))
    assert not v._redeemable(_candidate(HONEST))


def test_known_answers_from_idle_learning_judge_a_peer_like_canaries() -> None:
    """Idle learning's replies (record_known_answer) exclude a liar and keep an honest weak peer askable."""
    v, ledger, _registry = _verification(Network(_items()))
    for i in range(30):
        v.record_known_answer(HONEST, "smollm2", 4, i % 3 == 0, None, f"learning arc_easy/{i}")  # 33% right
        v.record_known_answer(LIAR, "smollm2", 4, False, True, f"learning arc_easy/{i}")
    assert ledger.book.should_ask(HONEST) and not ledger.book.should_ask(LIAR)
    assert ledger.book.counts(LIAR)[Evidence.ANSWER_WRONG] == 30


async def test_start_up_probes_wait_until_the_node_has_joined(tmp_path: Path) -> None:
    """While the network's ads still arrive, no probe (nor this node's own answer for one) goes
    out; once joined, the newcomers get their start-up probes although the node is busy."""
    canaries = _items()
    net = Network(canaries)
    net.behaviour = {ME: gold, HONEST: gold, LIAR: gold}
    v, _ledger, _registry = _verification(net, canary_rate=0.0, local_answers=True)
    v.deck = CanaryDeck(canaries, tmp_path / "screen.json", "smollm2")
    joined = False
    with trio.move_on_after(0.5):
        await v.probe_newcomers(0.01, lambda: False, lambda: joined)
    assert net.calls == []
    joined = True
    with trio.move_on_after(0.5):
        await v.probe_newcomers(0.01, lambda: False, lambda: joined)
    assert sorted(peer for peer, _ in net.calls if peer != ME) == sorted([HONEST, LIAR] * 3)
    assert sum(1 for peer, _ in net.calls if peer == ME) == 6  # its own answer to each item, first
