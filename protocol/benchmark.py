"""Envelope throughput on one core, against raw Ed25519 on the same bytes.

The envelope layer should cost little beyond the signature itself: the goal
is ``ratio = envelope sign+verify rate / raw sign+verify rate >= 0.70``.
Phases are interleaved in several rounds so load from other processes on a
shared machine hits both sides alike.

Run: ``python -m peermind.protocol.benchmark [--seconds 2]``
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ._envelope import ENVELOPE_DOMAIN, Verifier, seal
from ._identity import Signer
from ._schemas_task import ChatMessage, TaskRequest

ROUNDS = 4
TYPICAL_PROMPT = (
    "You are reviewing a pull request that changes how our service retries failed "
    "HTTP calls. Summarise the risk of switching from fixed one-second retries to "
    "exponential backoff with jitter, list two failure modes the tests should cover, "
    "and suggest a sensible cap on the total retry time for a user-facing request."
)


def typical_request() -> TaskRequest:
    """A TaskRequest like the ones a chat client sends: one ~300-char user turn."""
    return TaskRequest(
        task_id=os.urandom(16),
        kind="generate",
        messages=[ChatMessage(role="user", content=TYPICAL_PROMPT)],
        max_tokens=256,
        temperature=0.2,
        deadline_ms=time.time_ns() // 1_000_000 + 30_000,
    )


def _timed(budget_s: float, step: Callable[[], object]) -> tuple[int, float]:
    """Call ``step`` until ``budget_s`` elapsed; return (calls, seconds)."""
    n = 0
    start = time.perf_counter()
    deadline = start + budget_s
    while True:
        for _ in range(50):
            step()
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return n, now - start


def run_envelope_benchmark(seconds: float = 2.0) -> dict[str, float]:
    """Measure seal/open rates, envelope size and raw Ed25519 rates.

    Returns rates per second (``seal_per_s``, ``open_per_s``,
    ``raw_sign_per_s``, ``raw_verify_per_s``), combined sign+verify rates,
    ``ratio`` and ``envelope_bytes`` of a typical TaskRequest.
    """
    signer = Signer.generate()
    request = typical_request()
    sample = seal(signer, request)
    # The raw baseline signs exactly what seal signs: domain prefix + payload.
    signed_input = ENVELOPE_DOMAIN + msgpack.unpackb(sample)[0]
    raw_key = Ed25519PrivateKey.generate()
    raw_pub = raw_key.public_key()
    raw_sig = raw_key.sign(signed_input)

    budget = seconds / (4 * ROUNDS)
    totals = {"seal": [0, 0.0], "open": [0, 0.0], "sign": [0, 0.0], "verify": [0, 0.0]}
    verifier = Verifier()
    for _ in range(ROUNDS):
        sealed: list[bytes] = []

        def seal_one(out: list[bytes] = sealed) -> None:
            out.append(seal(signer, request))

        n, dt = _timed(budget, seal_one)
        totals["seal"][0] += n
        totals["seal"][1] += dt
        pending = iter(sealed)

        def open_next() -> None:
            nonlocal pending
            try:
                wire = next(pending)
            except StopIteration:  # verifying outran signing: re-seal fresh ones
                pending = iter([seal(signer, request) for _ in range(200)])
                wire = next(pending)
            verifier.open(wire)

        n, dt = _timed(budget, open_next)
        totals["open"][0] += n
        totals["open"][1] += dt
        n, dt = _timed(budget, lambda: raw_key.sign(signed_input))
        totals["sign"][0] += n
        totals["sign"][1] += dt
        n, dt = _timed(budget, lambda: raw_pub.verify(raw_sig, signed_input))
        totals["verify"][0] += n
        totals["verify"][1] += dt

    rate = {name: count / elapsed for name, (count, elapsed) in totals.items()}
    env_pair = 1.0 / (1.0 / rate["seal"] + 1.0 / rate["open"])
    raw_pair = 1.0 / (1.0 / rate["sign"] + 1.0 / rate["verify"])
    return {
        "seal_per_s": rate["seal"],
        "open_per_s": rate["open"],
        "envelope_sign_verify_per_s": env_pair,
        "raw_sign_per_s": rate["sign"],
        "raw_verify_per_s": rate["verify"],
        "raw_sign_verify_per_s": raw_pair,
        "ratio": env_pair / raw_pair,
        "envelope_bytes": float(len(sample)),
        "prompt_chars": float(len(TYPICAL_PROMPT)),
        "seconds": seconds,
    }


def format_table(result: dict[str, float]) -> str:
    """The benchmark result as a small aligned text table."""
    rows = [
        ("envelope seal (sign)", f"{result['seal_per_s']:,.0f} /s"),
        ("envelope open (verify)", f"{result['open_per_s']:,.0f} /s"),
        ("envelope sign+verify", f"{result['envelope_sign_verify_per_s']:,.0f} /s"),
        ("raw Ed25519 sign", f"{result['raw_sign_per_s']:,.0f} /s"),
        ("raw Ed25519 verify", f"{result['raw_verify_per_s']:,.0f} /s"),
        ("raw sign+verify", f"{result['raw_sign_verify_per_s']:,.0f} /s"),
        ("ratio (goal >= 0.70)", f"{result['ratio']:.2f}"),
        (
            "TaskRequest envelope",
            f"{result['envelope_bytes']:.0f} bytes ({result['prompt_chars']:.0f}-char prompt)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="total measuring time")
    args = parser.parse_args(argv)
    print(format_table(run_envelope_benchmark(args.seconds)))


if __name__ == "__main__":
    main()
