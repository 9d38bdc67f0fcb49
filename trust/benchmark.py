"""Benchmarks of the trust package's hot paths (run: python -m peermind.trust.benchmark).

Figures, not asserts: the test suite never times anything. ``bench_canary_test`` gives
the canary test's error rates and speeds from seeded canary streams (canary_streams).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable

import base58

from . import canary_streams as cs
from ._evidence import Evidence, EvidenceRecord
from ._global_trust import GlobalTrust
from ._params import TrustParams
from ._pow import pow_challenge, solve
from ._rate_limit import LimitKind, RateLimiter
from ._reputation import ReputationBook

__all__ = ["bench_canary_test", "bench_global_trust", "bench_pow", "bench_rate_limiter", "bench_reputation", "main"]


def _peer(i: int) -> str:
    digest = hashlib.sha256(str(i).encode()).digest()
    return base58.b58encode(b"\x00\x24\x08\x01\x12\x20" + digest).decode()


def _rate(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def bench_reputation(peers: int = 1000, records: int = 20_000) -> dict[str, float]:
    """record() and score() calls per second over ``peers`` peers."""
    rng = random.Random(0)
    ids = [_peer(i) for i in range(peers)]
    kinds = list(Evidence)
    t0 = 1_700_000_000.0
    book = ReputationBook(TrustParams(), now=lambda: t0 + 1e6)
    evs = [EvidenceRecord(rng.choice(ids), rng.choice(kinds), at=t0 + i) for i in range(records)]
    it = iter(evs)
    rec_rate = _rate(lambda: book.record(next(it)), records)
    sit = iter(ids * 20)
    score_rate = _rate(lambda: book.score(next(sit)), peers * 20)
    stit = iter(ids * 5)
    standing_rate = _rate(lambda: book.standing(next(stit)), peers * 5)
    return {"record_per_s": rec_rate, "score_per_s": score_rate, "standing_per_s": standing_rate}


def bench_global_trust(peers: int = 1000, degree: int = 50) -> dict[str, float]:
    """Seconds for one compute() with ``peers`` issuers of ``degree`` opinions each."""
    rng = random.Random(1)
    ids = [_peer(i) for i in range(peers)]
    gt = GlobalTrust(set(ids[:5]), self_id=ids[0])
    for issuer in ids:
        gt.update_opinion(issuer, 1, {t: rng.random() for t in rng.sample(ids, degree)})
    start = time.perf_counter()
    gt.compute({t: 1.0 for t in ids[1:20]})
    return {"seconds": time.perf_counter() - start, "iterations": float(gt.iterations)}


def bench_pow(bits: int = 12, solves: int = 20) -> dict[str, float]:
    """Hash rate from ``solves`` solutions, and the expected solve time at common difficulties."""
    hashes = 0
    start = time.perf_counter()
    for i in range(solves):
        hashes += solve(pow_challenge(_peer(i), "bench"), bits) + 1
    rate = hashes / (time.perf_counter() - start)
    out = {"hashes_per_s": rate}
    for d in (16, 20, 24):
        out[f"expected_solve_s_at_{d}_bits"] = 2**d / rate
    return out


def bench_rate_limiter(peers: int = 1000, checks: int = 50_000) -> dict[str, float]:
    """allow() calls per second with a reputation book attached."""
    ids = [_peer(i) for i in range(peers)]
    book = ReputationBook(TrustParams())
    limiter = RateLimiter(book=book)
    it = iter(ids * (checks // peers + 1))
    return {"allow_per_s": _rate(lambda: limiter.allow(next(it), LimitKind.REQUEST), checks)}


def bench_canary_test(runs: int = 200, canaries: int = 120) -> dict[str, float]:
    """Share of honest runs ever below the ask threshold / askable at the end, and canaries
    until a liar is below it (median, max), against the old flat -2/+1 rule."""
    same, other = cs.StreamModel("same"), cs.StreamModel("independent", 0.27)
    honest = {
        "honest_same_model": (same, cs.OWN, same, 1),
        "honest_weak_27pct": (other, cs.OTHER, other, 2),
        "honest_weak_27pct_alone": (other, cs.OTHER, None, 0),
    }
    out: dict[str, float] = {}
    for name, (peer, model, witness, witnesses) in honest.items():
        results = [cs.simulate(peer, model, witness=witness, witnesses=witnesses, own_accuracy=0.5, seed=s,
                               canaries=canaries) for s in range(runs)]
        out[f"{name}_ever_below_ask"] = sum(r.first_below_ask is not None for r in results) / runs
        out[f"{name}_askable_at_end"] = sum(r.askable_at_end for r in results) / runs
    out["flat_rule_weak_27pct_ever_below_ask"] = sum(
        cs.flat_rule(s, 0.27, canaries) is not None for s in range(runs)) / runs
    for name, kind in (("liar_always_wrong", "always_wrong"), ("liar_runner_up", "runner_up")):
        drops = sorted(cs.simulate(cs.StreamModel(kind), cs.OWN, witness=same, witnesses=1, own_accuracy=0.5,
                                   seed=s, canaries=canaries).first_below_ask or canaries + 1 for s in range(runs))
        out[f"{name}_canaries_median"] = float(drops[len(drops) // 2])
        out[f"{name}_canaries_max"] = float(drops[-1])
    flat = sorted(cs.flat_rule(s, 0.0, canaries) or canaries + 1 for s in range(runs))
    out["flat_rule_liar_canaries_median"] = float(flat[len(flat) // 2])
    return out


def main() -> None:
    for name, fn in (
        ("canary_test(200 runs x 120 canaries)", bench_canary_test),
        ("reputation", bench_reputation),
        ("global_trust(1000 peers x 50 opinions)", bench_global_trust),
        ("proof_of_work", bench_pow),
        ("rate_limiter", bench_rate_limiter),
    ):
        figures = fn()
        shown = ", ".join(f"{k}={v:,.4g}" for k, v in figures.items())
        print(f"{name}: {shown}")


if __name__ == "__main__":
    main()
