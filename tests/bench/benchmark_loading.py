"""Benchmark: how long loading benchmark data takes once the cache exists.

Run: .venv/bin/python tests/bench/benchmark_loading.py
(not collected by pytest: performance is measured here, never asserted in tests)
"""

from __future__ import annotations

import time

from peermind.bench import DATASETS, clear_memo, ensure_data, load_items, load_pool


def _best_ms(action: object, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    ensure_data()
    print(f"ensure_data on a complete cache: {_best_ms(ensure_data):.1f} ms (verifies every item file)")
    for name in DATASETS:

        def cold(name: str = name) -> None:
            clear_memo()
            load_pool(name)

        warm_ms = _best_ms(lambda name=name: load_items(name, "test", limit=100))
        print(f"{name:14s} {len(load_pool(name)):5d} items  cold {_best_ms(cold):6.1f} ms  "
              f"warm load_items(limit=100) {warm_ms:5.2f} ms")


if __name__ == "__main__":
    main()
