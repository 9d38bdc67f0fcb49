"""Benchmark the LLM backend on this machine: ``python -m peermind.node.llm.benchmark``.

Reports, per model: load time, the self-benchmark (prompt / generation
tokens/s), a 64-token chat answer, and score() of a 4-choice question against
the naive way (a logits_all Llama that re-evaluates context + choice for every
choice). Figures go to stdout; nothing is asserted (tests never time things).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import trio
from llama_cpp import Llama

from ._backend import LlamaBackend
from ._profiles import PROFILES, ModelProfile, resolve_model

CONTEXT = (
    "Question: Which of these is a source of light energy for plants?\nAnswer:"
)
CHOICES = [" the Sun", " the soil", " the wind", " water in the roots of the plant"]


@dataclass(frozen=True)
class BenchResult:
    """One model's figures on this machine (seconds, tokens/s), as the table prints them."""

    model: str
    load_s: float
    prompt_tps: float
    gen_tps: float
    chat_s: float
    chat_tokens: int
    score_s: float
    naive_score_s: float


def _naive_score_seconds(profile: ModelProfile, n_threads: int, repeats: int) -> float:
    llm = Llama(str(profile.path), n_ctx=512, n_threads=n_threads, logits_all=True,
                swa_full=True, verbose=False)
    try:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            ctx = llm.tokenize(CONTEXT.encode(), add_bos=True, special=True)
            for choice in CHOICES:
                whole = llm.tokenize((CONTEXT + choice).encode(), add_bos=True, special=True)
                llm.reset()
                llm.eval(whole)
                logprobs = Llama.logits_to_logprobs(llm.scores[: llm.n_tokens])
                sum(float(logprobs[len(ctx) - 1 + i, t]) for i, t in enumerate(whole[len(ctx):]))
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        llm.close()


async def bench_model(spec: str, *, n_threads: int = 2, repeats: int = 5) -> BenchResult:
    """Load ``spec`` and time its self-benchmark, a chat answer and score() vs the naive way (medians)."""
    profile = await trio.to_thread.run_sync(resolve_model, spec)
    started = time.perf_counter()
    backend = await LlamaBackend.load(profile, n_threads=n_threads)
    load_s = time.perf_counter() - started
    try:
        measurement = await backend.measure()
        started = time.perf_counter()
        chat = await backend.generate(
            [{"role": "user", "content": "Explain in two sentences why the sky is blue."}],
            max_tokens=64,
        )
        chat_s = time.perf_counter() - started
        score_times = []
        for _ in range(repeats):
            started = time.perf_counter()
            await backend.score(CONTEXT, CHOICES)
            score_times.append(time.perf_counter() - started)
    finally:
        await backend.aclose()
    naive = await trio.to_thread.run_sync(_naive_score_seconds, profile, n_threads, repeats)
    return BenchResult(
        model=profile.name, load_s=load_s, prompt_tps=measurement.prompt_tps,
        gen_tps=measurement.gen_tps, chat_s=chat_s, chat_tokens=chat.completion_tokens,
        score_s=statistics.median(score_times), naive_score_s=naive,
    )


def _print(results: Sequence[BenchResult]) -> None:
    print(f"{'model':<12} {'load s':>7} {'prompt t/s':>10} {'gen t/s':>8} "
          f"{'chat s (tok)':>13} {'score4 ms':>9} {'naive ms':>9}")
    for r in results:
        print(f"{r.model:<12} {r.load_s:>7.2f} {r.prompt_tps:>10.0f} {r.gen_tps:>8.0f} "
              f"{r.chat_s:>8.2f} ({r.chat_tokens:>2}) {r.score_s * 1e3:>9.0f} "
              f"{r.naive_score_s * 1e3:>9.0f}")


async def _run(specs: Sequence[str], n_threads: int, repeats: int) -> None:
    results = [await bench_model(s, n_threads=n_threads, repeats=repeats) for s in specs]
    _print(results)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m peermind.node.llm.benchmark [MODEL ...]``: one table row per model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(PROFILES),
                        help="profile names or .gguf paths (default: all profiles)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    trio.run(_run, args.models, args.threads, args.repeats)


if __name__ == "__main__":
    main()
