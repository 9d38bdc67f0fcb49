"""Admission: bans, per-peer rate limits (typed refusals + flood evidence) and proof of work."""

from __future__ import annotations

import dataclasses

from peermind.node.trust_wiring import Admission, TrustLedger, TrustMetrics
from peermind.protocol import CapabilityAd, TaskRefusal, TaskRequest, TaskResult
from peermind.trust import Evidence, EvidenceRecord, LimitKind, ProofOfWork, TrustParams
from prometheus_client import CollectorRegistry

A = "12D3KooWDtaXV2cRp8gxRqErs5PGERLzQCiS4hntpNGjfJYNBzKa"
B = "12D3KooWH3bjCG6jwuDn9vbkDcoBgE23f4Zroqo6F3dsJERfqwsF"


class Clock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _admission(enabled: bool = True, pow_bits: int = 0, **params: float) -> tuple[Admission, TrustLedger, Clock, CollectorRegistry]:
    clock = Clock()
    registry = CollectorRegistry()
    ledger = TrustLedger(TrustParams(**params), None, now=clock)
    pow_ = ProofOfWork("testnet-x", pow_bits) if pow_bits else None
    return Admission(ledger, TrustMetrics(registry), enabled=enabled, pow_=pow_, now=clock), ledger, clock, registry


def _count(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_requests_over_the_allowance_get_rate_limited_refusals_and_gross_excess_is_a_flood() -> None:
    admission, ledger, clock, registry = _admission(request_rate=1.0, request_burst=8.0)
    # a newcomer gets a quarter: burst 2
    assert admission.gate_task(A) is None
    assert admission.gate_task(A) is None
    refusal = admission.gate_task(A)
    assert refusal is not None and refusal.reason == "rate_limited"
    assert refusal.retry_after_ms > 0
    assert Evidence.FLOOD not in ledger.book.counts(A)  # just over: refused, not yet abuse
    assert _count(registry, "peermind_trust_refusals_total", reason="rate_limited") == 1
    # another peer has its own bucket
    assert admission.gate_task(B) is None
    # ignoring retry_after: past 2x the burst the refusals become flood evidence
    for _ in range(4):
        admission.gate_task(A)
    assert ledger.book.counts(A)[Evidence.FLOOD] >= 1
    clock.t += 10.0  # refilled
    assert admission.gate_task(A) is None


def test_a_requester_that_honours_retry_after_is_never_recorded_as_flooding() -> None:
    """Regression: each refusal used to be flood evidence, which shrank the allowance, which
    caused more refusals, until an honest but busy requester (e.g. router seeding) was banned."""
    admission, ledger, clock, _registry = _admission(request_rate=1.0, request_burst=8.0)
    refusals = 0
    for _ in range(600):
        refusal = admission.gate_task(A)
        if refusal is None:
            clock.t += 0.05  # eager: asks again right away
        else:
            refusals += 1
            clock.t += refusal.retry_after_ms / 1000 + 0.001  # waits exactly as told
    assert refusals > 50
    assert Evidence.FLOOD not in ledger.book.counts(A)
    assert not ledger.book.is_banned(A)


def test_a_flooder_ends_up_banned_and_refused_as_untrusted() -> None:
    admission, ledger, _clock, registry = _admission()
    reasons = [r.reason if r else "served" for r in (admission.gate_task(A) for _ in range(40))]
    assert reasons[:2] == ["served", "served"]
    assert "rate_limited" in reasons
    assert reasons[-1] == "untrusted"
    assert ledger.book.is_banned(A)
    refusal = admission.gate_task(A)
    assert refusal is not None and refusal.reason == "untrusted" and refusal.retry_after_ms > 3_000_000
    assert _count(registry, "peermind_trust_refusals_total", reason="untrusted") >= 2
    floods_when_banned = ledger.book.counts(A)[Evidence.FLOOD]
    admission.gate_task(A)
    assert ledger.book.counts(A)[Evidence.FLOOD] == floods_when_banned  # no evidence while refused


def test_with_trust_disabled_nothing_is_refused() -> None:
    admission, ledger, _clock, _registry = _admission(enabled=False)
    for _ in range(3):
        ledger.record(EvidenceRecord(A, Evidence.PROTOCOL_VIOLATION, at=1_000.0, detail="bad_signature: x"))
    assert ledger.book.is_banned(A)
    assert all(admission.gate_task(A) is None for _ in range(50))
    assert all(admission.admit_ad(A) for _ in range(50))


def test_gossip_over_the_allowance_is_dropped_and_only_gross_excess_is_a_flood() -> None:
    admission, ledger, _clock, registry = _admission(ad_rate=0.01, ad_burst=8.0)
    # newcomer: burst 2 admitted, then dropped; the abuse tier (4x) tolerates 8 before flood evidence
    results = [admission.admit(A, LimitKind.AD, "ads") for _ in range(8)]
    assert results[:2] == [True, True] and not any(results[2:])
    assert Evidence.FLOOD not in ledger.book.counts(A)
    assert _count(registry, "peermind_trust_dropped_total", topic="ads", reason="rate_limited") == 6
    for _ in range(4):
        admission.admit(A, LimitKind.AD, "ads")
    assert ledger.book.counts(A)[Evidence.FLOOD] >= 1


def test_banned_peers_gossip_is_dropped_before_verification() -> None:
    admission, ledger, _clock, registry = _admission()
    for _ in range(3):
        ledger.record(EvidenceRecord(A, Evidence.PROTOCOL_VIOLATION, at=1_000.0, detail="bad_signature: x"))
    assert not admission.admit_opinion(A)
    assert _count(registry, "peermind_trust_dropped_total", topic="trust", reason="banned") == 1


def _ad(nonce: int) -> CapabilityAd:
    return CapabilityAd(network="testnet-x", ttl_s=60, seq=1, pow_nonce=nonce)


def test_ads_without_the_required_proof_of_work_are_ignored_and_reported_once() -> None:
    admission, ledger, _clock, registry = _admission(pow_bits=8)
    pow_ = ProofOfWork("testnet-x", 8)
    good = pow_.solve(B)
    assert admission.check_ad(B, _ad(good))
    assert admission.check_ad(B, dataclasses.replace(_ad(good), seq=2))  # cached
    bad = next(n for n in range(1000) if not pow_.verify(A, n))
    assert not admission.check_ad(A, _ad(bad))
    assert not admission.check_ad(A, _ad(bad))
    assert ledger.book.counts(A)[Evidence.PROTOCOL_VIOLATION] == 1
    assert _count(registry, "peermind_trust_dropped_total", topic="ads", reason="proof_of_work") == 2


def test_no_proof_of_work_needed_when_the_network_asks_for_none() -> None:
    admission, _ledger, _clock, _registry = _admission(pow_bits=0)
    assert admission.check_ad(A, _ad(12345))


def test_a_newcomer_gets_two_tasks_at_a_time_and_a_trusted_peer_more() -> None:
    admission, ledger, clock, registry = _admission()
    assert admission.admit_task(A) is None
    assert admission.admit_task(A) is None  # a user question beside a background check
    refusal = admission.admit_task(A)
    assert refusal is not None and refusal.reason == "rate_limited" and "limit 2" in refusal.detail
    assert Evidence.FLOOD not in ledger.book.counts(A)  # an honest peer asking at once is no flooder
    admission.task_done(A)
    assert admission.admit_task(A) is None
    for _ in range(30):
        ledger.record(EvidenceRecord(B, Evidence.ANSWER_RIGHT, at=clock.t))
    assert [admission.admit_task(B) is None for _ in range(5)] == [True] * 4 + [False]
    assert _count(registry, "peermind_trust_refusals_total", reason="rate_limited") == 2


def test_task_priority_follows_reputation_and_only_unproven_peers_are_preemptible() -> None:
    admission, ledger, clock, _registry = _admission()
    assert admission.task_priority(A) == (2, True)  # a newcomer: after trusted peers, may be cut short
    for _ in range(30):
        ledger.record(EvidenceRecord(B, Evidence.ANSWER_RIGHT, at=clock.t))
    assert admission.task_priority(B) == (1, False)
    ledger.record(EvidenceRecord(A, Evidence.FLOOD, at=clock.t))
    assert admission.task_priority(A) == (3, True)  # evidence against it: last
    off, _l, _c, _r = _admission(enabled=False)
    assert off.task_priority(A) == (1, False)


def test_a_banned_peer_is_told_once_then_its_streams_are_reset_unread() -> None:
    admission, ledger, clock, registry = _admission()
    assert not admission.turn_away(A)  # not banned: served normally
    for _ in range(40):
        admission.gate_task(A)
    assert ledger.book.is_banned(A)
    assert not admission.turn_away(A)  # first stream after the ban: gets the typed refusal
    refusal = admission.gate_task(A)
    assert refusal is not None and refusal.reason == "untrusted"
    assert all(admission.turn_away(A) for _ in range(5))  # the rest: reset, no work at all
    assert _count(registry, "peermind_trust_refusals_total", reason="untrusted_reset") == 5
    clock.t += 31.0
    assert not admission.turn_away(A)  # reminded every 30 s
    assert not admission.turn_away(B)


def _generate(n: int, max_tokens: int = 256) -> TaskRequest:
    return TaskRequest(task_id=bytes([n % 256]) * 16, kind="generate", prompt="Write an essay. " * 10,
                       max_tokens=max_tokens, deadline_ms=1)


def _score(n: int) -> TaskRequest:
    return TaskRequest(task_id=bytes([n % 256]) * 15 + b"s", kind="score", prompt="Question: 2+2?\nAnswer:",
                       continuations=[" 3", " 4"], deadline_ms=1)


def test_allowances_meter_tokens_so_long_generations_cost_what_they_take() -> None:
    admission, _ledger, clock, _registry = _admission(work_rate=100.0, work_burst=1200.0)
    # a newcomer's work burst is a quarter (300 tokens): one 256-token generation fits, a second does not
    assert admission.charge_work(A, _generate(1)) is None
    refused = admission.charge_work(A, _generate(2))
    assert refused is not None and refused.reason == "rate_limited" and refused.retry_after_ms > 1000
    # short scoring tasks of another peer are unaffected, and many fit
    assert all(admission.charge_work(B, _score(i)) is None for i in range(10))
    # the generation stopped after 20 tokens: the unused budget comes back
    admission.settle_work(_generate(1), TaskResult(task_id=_generate(1).task_id, text="x", prompt_tokens=40,
                                                   completion_tokens=20, model="m", latency_ms=1.0))
    clock.t += 2.5  # 236 tokens refunded, plus 2.5 s at 25 tokens/s: room for 296 again (without the refund: 66)
    assert admission.charge_work(A, _generate(3)) is None


def test_a_good_answerer_that_ignores_retry_after_is_throttled_as_a_requester() -> None:
    admission, ledger, clock, _registry = _admission(request_rate=1.0, request_burst=8.0)
    for peer in (A, B):  # both answer canaries perfectly: trusted, full allowances
        for _ in range(12):
            ledger.record(EvidenceRecord(peer, Evidence.ANSWER_RIGHT, at=ledger.clock(), llr=1.39))
    full = admission.limiter.limits(A, LimitKind.WORK)
    assert admission.limiter.limits(B, LimitKind.WORK) == full
    for peer in (A, B):
        while admission.gate_task(peer) is None:
            pass  # burst used up: told to wait
    # A keeps asking every 300 ms while told to wait; B waits as told
    for _ in range(8):
        clock.t += 0.3
        admission.gate_task(A)
    clock.t += 2.0
    assert admission.gate_task(B) is None
    assert Evidence.FLOOD not in ledger.book.counts(A)  # not (yet) abuse: conduct alone throttles it
    rate_a, burst_a = admission.limiter.limits(A, LimitKind.WORK)
    assert rate_a < 0.5 * full[0] and burst_a < 0.5 * full[1]
    assert admission.limiter.limits(B, LimitKind.WORK) == full  # honoured retry_after: untouched
    assert admission.limiter.limits(A, LimitKind.REQUEST)[0] < 0.5 * admission.limiter.limits(B, LimitKind.REQUEST)[0]
    assert ledger.book.standing(A) is ledger.book.standing(B)  # its answers are still judged as good
    assert admission.conduct.ignored(A) > 4 and admission.conduct.ignored(B) == 0


def test_a_stream_that_dies_before_its_refusal_does_not_silence_the_ban() -> None:
    """The flaky flooder test: the first post-ban stream was let through to carry the typed
    refusal but died before the gate (the ban's own disconnect reset it); every stream of the
    next 30 s was then reset unread and the peer never learnt it was banned."""
    admission, ledger, clock, registry = _admission()
    for _ in range(40):
        admission.gate_task(A)
    assert ledger.book.is_banned(A)
    assert not admission.turn_away(A)  # let through to carry the refusal ... and it dies unread
    assert admission.turn_away(A)  # meanwhile one is on its way: the rest are reset
    clock.t += 2.5
    assert not admission.turn_away(A)  # it never reached the gate: the next stream carries the refusal
    refusal = admission.gate_task(A)
    assert refusal is not None and refusal.reason == "untrusted"
    clock.t += 2.5
    assert admission.turn_away(A)  # told now: reset for the rest of the 30 s


def test_a_charge_whose_task_never_settles_expires_after_its_deadline() -> None:
    """A streamed task whose reply is never produced used to keep its charge in the table until
    4,096 later charges pushed it out (with live tasks' charges, whose refunds were then lost);
    now it is refunded and dropped once its deadline plus a grace has passed."""
    import time as _time

    from peermind.node.trust_wiring._admission import CHARGE_GRACE_S

    admission, _ledger, clock, _registry = _admission(work_rate=100.0, work_burst=1200.0)
    never_settled = dataclasses.replace(_generate(1), deadline_ms=int(_time.time() * 1000) + 20_000)
    assert admission.charge_work(A, never_settled) is None
    clock.t += 20.0 + CHARGE_GRACE_S - 1.0
    assert admission.charge_work(B, _score(3)) is None  # a later request sweeps: not expired yet
    assert admission.pending_charges == 2
    clock.t += 2.0
    assert admission.charge_work(B, _score(4)) is None
    assert admission.pending_charges == 2  # A's charge is gone; B's two are pending
    admission.settle_work(never_settled, None)  # a settle arriving after all is a no-op
    assert admission.pending_charges == 2


def test_a_charge_pushed_out_of_a_full_table_is_refunded_not_kept() -> None:
    from peermind.node.trust_wiring import _admission as admission_module

    admission, _ledger, _clock, _registry = _admission(work_rate=100.0, work_burst=1200.0)
    assert admission.charge_work(A, _generate(1)) is None
    assert admission.charge_work(A, _generate(2)) is not None
    limit = admission_module.MAX_CHARGED
    admission_module.MAX_CHARGED = 3
    try:
        for n in range(3):  # other peers' tasks fill the table: A's oldest charge is pushed out
            assert admission.charge_work(B, _score(10 + n)) is None
    finally:
        admission_module.MAX_CHARGED = limit
    assert admission.charge_work(A, _generate(2)) is None


def test_a_peer_that_keeps_asking_while_told_to_wait_is_refused_once_then_reset_unread() -> None:
    admission, ledger, clock, registry = _admission(request_rate=1.0, request_burst=8.0)
    assert admission.gate_task(A) is None and admission.gate_task(A) is None  # a newcomer's burst of 2
    told = admission.gate_task(A)
    assert told is not None and told.reason == "rate_limited" and told.retry_after_ms > 1000
    clock.t += 0.1
    assert not admission.turn_away(A)  # sent before it saw the refusal: read, as ever
    assert admission.gate_task(A) is not None
    clock.t += 0.4
    assert not admission.turn_away(A)  # the first early request still gets its typed refusal
    early = admission.gate_task(A)
    assert early is not None and early.reason == "rate_limited"
    clock.t += 0.1
    assert all(admission.turn_away(A) for _ in range(3))  # the rest of the window: reset unread
    assert not admission.turn_away(B)
    assert _count(registry, "peermind_trust_refusals_total", reason="rate_limited_reset") == 3
    assert admission.conduct.ignored(A) > 3.9  # reset requests still count against its conduct (decaying)
    clock.t += told.retry_after_ms / 1000 * 8  # long after the window (and any extension)
    assert not admission.turn_away(A)
    assert not ledger.book.is_banned(A)


def test_a_flooder_reset_unread_is_banned_as_when_every_stream_was_read() -> None:
    admission, ledger, _clock, _registry = _admission()
    reset = 0
    for _ in range(40):
        if admission.turn_away(A):
            reset += 1
        else:
            admission.gate_task(A)
    assert reset > 0
    assert ledger.book.is_banned(A)


def test_a_requester_that_honours_retry_after_is_never_reset() -> None:
    admission, _ledger, clock, registry = _admission(request_rate=1.0, request_burst=8.0)
    for _ in range(200):
        assert not admission.turn_away(A)
        refusal = admission.gate_task(A)
        clock.t += 0.05 if refusal is None else refusal.retry_after_ms / 1000 + 0.001
    assert _count(registry, "peermind_trust_refusals_total", reason="rate_limited_reset") == 0


def test_a_newcomer_pool_refusal_tells_the_peer_to_wait_like_ours() -> None:
    admission, _ledger, clock, _registry = _admission(request_rate=1.0, request_burst=8.0)
    admission.told_to_wait(A, TaskRefusal(task_id=b"\0" * 16, reason="rate_limited", detail="pool full",
                                          retry_after_ms=2000))
    admission.told_to_wait(B, TaskRefusal(task_id=b"\0" * 16, reason="busy", detail="busy", retry_after_ms=2000))
    clock.t += 0.5
    for peer in (A, B):
        assert not admission.turn_away(peer)
        admission.gate_task(peer)  # within its own allowance: served, but A asked early
    clock.t += 0.1
    assert admission.turn_away(A)
    assert not admission.turn_away(B)  # only rate_limited refusals are a request to wait
    clock.t += 2.0
    assert not admission.turn_away(A)
