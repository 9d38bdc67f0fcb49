"""What one identity costs: CPU-seconds to mint a key and solve the network's proof of work.

``peermind bench identity`` runs this. For each difficulty it mints ``n`` fresh Ed25519
identities and solves ``ProofOfWork(network, bits)`` for each, timing process CPU time;
the baseline is minting the key alone, measured in the same run. Solving costs a
geometric number of hashes (mean 2**bits), so each figure is a mean with a 95% CI; the
measured hash rate extrapolates to difficulties too slow to sample here. This is the
price in this Python; native or GPU SHA-256 is orders of magnitude cheaper (README).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from peermind.protocol import Signer

from ._pow import ProofOfWork

__all__ = ["CostRow", "IdentityCost", "format_markdown", "measure_identity_cost"]

NETWORK = "peermind"


@dataclass(frozen=True)
class CostRow:
    bits: int
    n: int
    cpu_s_mean: float
    cpu_s_ci95: float
    hashes_mean: float
    ratio_to_keygen: float


@dataclass(frozen=True)
class IdentityCost:
    keygen_cpu_s: float
    keygen_n: int
    hashes_per_cpu_s: float
    rows: list[CostRow]
    extrapolated: dict[int, float]
    """bits -> expected CPU-seconds per identity at the measured hash rate."""
    load: str
    cpus: int
    python: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _ci95(values: Sequence[float]) -> float:
    return 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")


def measure_identity_cost(bits: Sequence[int], n: int, *, keygen_n: int = 2000, extrapolate: Sequence[int] = (20, 24, 28),
                          progress: Callable[[str], None] = lambda _m: None) -> IdentityCost:
    """Mint ``n`` identities per difficulty in ``bits`` (and ``keygen_n`` bare keys as the baseline)."""
    started = time.process_time()
    for _ in range(keygen_n):
        Signer.generate()
    keygen = (time.process_time() - started) / keygen_n
    rows: list[CostRow] = []
    hashes_total, cpu_total = 0.0, 0.0
    for b in bits:
        pow_ = ProofOfWork(NETWORK, b)
        costs, hashes = [], []
        for _ in range(n):
            t0 = time.process_time()
            signer = Signer.generate()
            nonce = pow_.solve(signer.peer_id_b58)
            costs.append(time.process_time() - t0)
            hashes.append(nonce + 1)  # nonces are tried from 0
        cpu_total += sum(costs) - keygen * n
        hashes_total += sum(hashes)
        mean = statistics.fmean(costs)
        rows.append(CostRow(b, n, mean, _ci95(costs), statistics.fmean(hashes), mean / keygen))
        progress(f"{b} bits: {mean:.4f} CPU-s per identity (n={n})")
    rate = hashes_total / cpu_total if cpu_total > 0 else float("nan")
    return IdentityCost(keygen, keygen_n, rate, rows, {b: keygen + 2**b / rate for b in extrapolate},
                        _load(), os.cpu_count() or 0, platform.python_version())


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def format_markdown(result: IdentityCost, command: str) -> str:
    lines = [
        "# What one identity costs (proof of work per peer ID)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {result.cpus} CPUs, Python {result.python}, load average (1/5/15 min) {result.load} "
        "(shared with other work while measured)",
        "",
        f"Baseline, measured in the same run: minting a bare Ed25519 identity costs "
        f"{result.keygen_cpu_s * 1e6:.0f} µs of CPU (n={result.keygen_n}).",
        "",
        "| difficulty (bits) | n | CPU-s per identity (mean ± 95% CI) | hashes (mean; expected 2^bits) | × bare key |",
        "|---|---|---|---|---|",
    ]
    for r in result.rows:
        lines.append(f"| {r.bits} | {r.n} | {r.cpu_s_mean:.4f} ± {r.cpu_s_ci95:.4f} | {r.hashes_mean:,.0f} ({2**r.bits:,}) "
                     f"| {r.ratio_to_keygen:,.0f} |")
    lines += ["", f"Measured SHA-256 rate of the solver: {result.hashes_per_cpu_s:,.0f} hashes per CPU-second; "
              "at that rate one identity costs, in expectation:", ""]
    lines += [f"- {b} bits: {s:,.2f} CPU-s" for b, s in result.extrapolated.items()]
    lines += ["", "Solving is geometric: single identities vary widely (the CI is of the mean). "
              "Native or GPU SHA-256 runs 10^3-10^6 times faster than this Python loop, so these are "
              "upper bounds on an attacker's price, not lower ones.", ""]
    return "\n".join(lines)
