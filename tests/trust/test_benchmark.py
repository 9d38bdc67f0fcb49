"""The benchmark functions run and report sane figures (no timing asserts)."""

from __future__ import annotations

from peermind.trust import benchmark


def test_benchmarks_run_at_tiny_sizes() -> None:
    assert benchmark.bench_reputation(peers=10, records=100)["record_per_s"] > 0
    figures = benchmark.bench_global_trust(peers=30, degree=5)
    assert figures["seconds"] > 0 and figures["iterations"] >= 1
    assert benchmark.bench_pow(bits=4, solves=3)["hashes_per_s"] > 0
    assert benchmark.bench_rate_limiter(peers=10, checks=100)["allow_per_s"] > 0
    canary = benchmark.bench_canary_test(runs=3, canaries=20)
    assert 0 <= canary["honest_same_model_ever_below_ask"] <= 1 and canary["liar_always_wrong_canaries_median"] >= 1
