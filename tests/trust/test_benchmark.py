"""The benchmark functions run and report sane figures (no timing asserts)."""

from __future__ import annotations

from peermind.trust import benchmark


def test_benchmarks_run_at_tiny_sizes() -> None:
    assert benchmark.bench_reputation(peers=10, records=100)["record_per_s"] > 0
    figures = benchmark.bench_global_trust(peers=30, degree=5)
    assert figures["seconds"] > 0 and figures["iterations"] >= 1
    assert benchmark.bench_pow(bits=4, solves=3)["hashes_per_s"] > 0
    assert benchmark.bench_rate_limiter(peers=10, checks=100)["allow_per_s"] > 0
