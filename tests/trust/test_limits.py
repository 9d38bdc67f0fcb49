"""Token buckets, reputation-sized rate limits, and proof of work."""

from __future__ import annotations

import hashlib
import math

import pytest
from _trustpeers import Clock, pid
from peermind.trust import (
    Evidence,
    EvidenceRecord,
    InsufficientWork,
    InvalidInput,
    LimitKind,
    ProofOfWork,
    RateLimited,
    RateLimiter,
    ReputationBook,
    TokenBucket,
    TrustError,
    TrustParams,
    pow_challenge,
    solve,
    verify,
)

A, B = pid("a"), pid("b")


# -- token bucket --------------------------------------------------------------------------
def test_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    clock = Clock(0.0)
    bucket = TokenBucket(rate=2.0, burst=3, now=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == pytest.approx(0.5)
    with pytest.raises(RateLimited) as info:
        bucket.acquire()
    assert info.value.retry_after_s == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.try_acquire() and not bucket.try_acquire()
    clock.advance(100)
    assert bucket.tokens <= 3 and bucket.retry_after(3) == 0.0
    assert math.isinf(bucket.retry_after(4))


def test_bucket_limits_can_change_and_bad_limits_are_rejected() -> None:
    clock = Clock(0.0)
    bucket = TokenBucket(1.0, 10, now=clock)
    bucket.set_limits(1.0, 2)
    assert bucket.tokens == 2
    for rate, burst in ((0, 1), (1, 0.5), (math.nan, 2)):
        with pytest.raises(InvalidInput):
            TokenBucket(rate, burst, now=clock)
    with pytest.raises(InvalidInput):
        bucket.try_acquire(0)


# -- rate limiter --------------------------------------------------------------------------
@pytest.fixture
def wall() -> Clock:
    return Clock()


@pytest.fixture
def mono() -> Clock:
    return Clock(0.0)


def _burst_size(limiter: RateLimiter, peer: str, kind: LimitKind) -> int:
    n = 0
    while limiter.allow(peer, kind) and n < 1000:
        n += 1
    return n


def test_newcomers_get_a_smaller_allowance_that_grows_with_reputation(
    wall: Clock, mono: Clock
) -> None:
    book = ReputationBook(TrustParams(), now=wall)
    limiter = RateLimiter(book=book, now=mono)
    for _ in range(40):
        book.record(EvidenceRecord(B, Evidence.ANSWER_RIGHT, at=wall.t))
    assert limiter.allowance_factor(A) == pytest.approx(0.25)
    assert limiter.allowance_factor(B) == pytest.approx(1.0)
    assert _burst_size(limiter, A, LimitKind.REQUEST) == 2  # 10 * 0.25 = 2.5 tokens
    assert _burst_size(limiter, B, LimitKind.REQUEST) == 10
    rate, _ = limiter.limits(A, LimitKind.REQUEST)
    assert rate == pytest.approx(0.25)


def test_buckets_are_separate_per_kind_and_per_peer(wall: Clock, mono: Clock) -> None:
    limiter = RateLimiter(TrustParams(), book=ReputationBook(now=wall), now=mono)
    assert _burst_size(limiter, A, LimitKind.AD) == 1
    assert limiter.allow(A, LimitKind.REQUEST)  # ads exhausted, requests untouched
    assert limiter.allow(B, LimitKind.AD)
    with pytest.raises(RateLimited, match="ad limit") as info:
        limiter.check(A, LimitKind.AD)
    assert info.value.peer == A and info.value.kind == "ad"
    assert info.value.retry_after_s == pytest.approx(1 / (0.1 * 0.25))


def test_poor_reputation_shrinks_and_a_ban_closes_the_allowance(wall: Clock, mono: Clock) -> None:
    book = ReputationBook(TrustParams(), now=wall)
    limiter = RateLimiter(book=book, now=mono)
    book.record(EvidenceRecord(A, Evidence.ANSWER_WRONG, at=wall.t))
    assert 0 < limiter.allowance_factor(A) < 0.25
    for _ in range(3):
        book.record(
            EvidenceRecord(A, Evidence.PROTOCOL_VIOLATION, at=wall.t, detail="bad_signature")
        )
    assert book.is_banned(A) and limiter.allowance_factor(A) == 0.0
    with pytest.raises(RateLimited, match="banned") as info:
        limiter.check(A, "request")  # type: ignore[arg-type]
    assert info.value.retry_after_s == pytest.approx(book.params.ban_cooldown_s)


def test_without_a_book_everyone_is_a_newcomer_and_memory_is_bounded(mono: Clock) -> None:
    limiter = RateLimiter(TrustParams(max_tracked_peers=2), now=mono)
    for name in ("p1", "p2", "p3"):
        limiter.check(pid(name), LimitKind.OPINION)
    assert len(limiter) == 2  # p1's bucket was dropped (least recently used)
    assert limiter.allow(pid("p1"), LimitKind.OPINION)  # back with a fresh newcomer bucket
    limiter.forget(pid("p1"))
    with pytest.raises(InvalidInput, match="unknown limit kind"):
        limiter.check(A, "bogus")  # type: ignore[arg-type]


def test_rate_limited_is_a_trust_error_with_a_helpful_message() -> None:
    err = RateLimited(1.5, peer=A, kind="request", detail="1/s, burst 10")
    assert isinstance(err, TrustError)
    assert "exceeded the request limit (1/s, burst 10); retry after 1.5 s" in str(err)


# -- proof of work -------------------------------------------------------------------------
def _leading_zero_bits(data: bytes) -> int:
    bits = bin(int.from_bytes(data, "big"))[2:].zfill(256)
    return len(bits) - len(bits.lstrip("0"))


def test_solved_nonce_verifies_and_has_the_leading_zero_bits() -> None:
    challenge = pow_challenge(A, "testnet")
    nonce = solve(challenge, 10)
    assert verify(challenge, nonce, 10)
    digest = hashlib.sha256(challenge + nonce.to_bytes(8, "big")).digest()
    assert _leading_zero_bits(digest) >= 10
    assert all(not verify(challenge, n, 10) for n in range(nonce))  # smallest nonce


def test_proof_is_bound_to_the_identity_and_the_network() -> None:
    assert pow_challenge(A, "testnet") != pow_challenge(B, "testnet")
    assert pow_challenge(A, "testnet") != pow_challenge(A, "mainnet")
    assert len(pow_challenge(A, "testnet")) == 32
    pow_ = ProofOfWork("testnet", 12)
    nonce = pow_.solve(A)
    pow_.require(A, nonce)
    assert not pow_.verify(B, nonce)
    with pytest.raises(InsufficientWork, match="12 leading zero bits") as info:
        pow_.require(B, nonce)
    assert info.value.peer == B


def test_zero_difficulty_disables_the_check_but_nonce_type_is_still_checked() -> None:
    challenge = pow_challenge(A, "n")
    assert solve(challenge, 0) == 0 and verify(challenge, 12345, 0)
    for bad in (-1, 2**64, "7", 1.0, True):
        assert not verify(challenge, bad, 0)  # type: ignore[arg-type]


def test_pow_rejects_bad_input_and_gives_up_after_max_attempts() -> None:
    with pytest.raises(InvalidInput, match="0..64"):
        solve(b"x", 65)
    with pytest.raises(InvalidInput, match="network"):
        pow_challenge(A, "")
    with pytest.raises(InvalidInput, match="base58"):
        pow_challenge("bad id", "n")
    with pytest.raises(InvalidInput, match="bytes"):
        verify("text", 0, 1)  # type: ignore[arg-type]
    with pytest.raises(TrustError, match="no nonce"):
        solve(pow_challenge(A, "n"), 40, max_attempts=10)


def test_requester_conduct_counts_requests_sent_while_told_to_wait_and_forgives_slowly() -> None:
    from peermind.trust import RequesterConduct

    clock = Clock(100.0)
    params = TrustParams()
    conduct = RequesterConduct(params, now=clock)
    a, b = pid("flooder"), pid("polite")
    assert conduct.factor(a) == 1.0
    for peer in (a, b):
        conduct.told_to_wait(peer, 5.0)
    assert not conduct.arrived(a)  # already in flight when the refusal went out: excused
    for _ in range(8):
        clock.t += 0.5
        assert conduct.arrived(a)
    clock.t += 5.0
    assert not conduct.arrived(b)  # came back when told
    assert conduct.factor(b) == 1.0
    assert conduct.factor(a) == pytest.approx(1 / (1 + 8 / params.conduct_tolerance), rel=0.02)  # minus decay
    clock.t += params.conduct_half_life_s
    assert conduct.ignored(a) == pytest.approx(4.0, rel=0.02)


def test_work_allowances_scale_with_trust_and_conduct_and_a_task_bigger_than_the_burst_needs_a_full_bucket() -> None:
    from peermind.trust import RequesterConduct

    clock = Clock(100.0)
    params = TrustParams(work_rate=100.0, work_burst=1200.0)
    conduct = RequesterConduct(params, now=clock)
    limiter = RateLimiter(params, ReputationBook(params, now=clock), now=clock, conduct=conduct)
    peer = pid("newcomer")
    assert limiter.limits(peer, LimitKind.WORK) == (25.0, 300.0)  # a quarter for a newcomer
    limiter.check(peer, LimitKind.WORK, 5000.0)  # bigger than the burst: runs on a full bucket
    with pytest.raises(RateLimited) as refused:
        limiter.check(peer, LimitKind.WORK, 10.0)
    assert refused.value.retry_after_s == pytest.approx(0.4)
    limiter.refund(peer, LimitKind.WORK, 250.0)
    limiter.check(peer, LimitKind.WORK, 200.0)
    conduct.told_to_wait(peer, 10.0)
    clock.t += 1.0
    for _ in range(4):
        conduct.arrived(peer)
    assert limiter.limits(peer, LimitKind.WORK)[0] == pytest.approx(12.5)  # halved by its conduct
    assert limiter.limits(peer, LimitKind.AD) == RateLimiter(params, None, now=clock).limits(peer, LimitKind.AD)
