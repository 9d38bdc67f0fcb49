"""``peermind bench backend``: the node's ``LlamaBackend`` against a bare ``create_chat_completion``.

Both run in this process on the same GGUF file with the same threads, one call at a time,
on the same fixed prompts (greedy, ``--max-tokens`` each). Calls alternate in pairs whose
order flips every pair (bare first, then backend first, ...), so drift in the machine's
load lands on both sides. Figures: the per-pair time ratio backend / bare (median with a
bootstrap 95% CI, n pairs), the ratio of the summed times, and how many answers were
byte-identical. The bare Llama keeps llama-cpp-python's own prefix reuse between calls
(that is what a user of the library gets); the backend's answers never depend on earlier
requests. Nothing here is asserted: it is a measurement, with the machine's load noted.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._bench_node import PROMPTS
from ._bench_results import write_bench_results

GOAL_RATIO = 1.05
WARM_UP = "Say hello in five words."
BOOTSTRAP_DRAWS = 2000


@dataclass
class BackendBenchResult:
    model: str
    threads: int
    max_tokens: int
    bare_ms: list[float] = field(default_factory=list)
    backend_ms: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    identical: list[bool] = field(default_factory=list)
    loadavg: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        ratios = [b / a for a, b in zip(self.bare_ms, self.backend_ms, strict=True)]
        low, high = bootstrap_median_ci(ratios)
        median = statistics.median(ratios) if ratios else float("nan")
        return {
            "pairs": len(ratios),
            "ratio_p50": round(median, 4),
            "ratio_p50_ci95": [round(low, 4), round(high, 4)],
            "ratio_of_sums": round(sum(self.backend_ms) / sum(self.bare_ms), 4) if self.bare_ms else None,
            "bare_ms_p50": round(statistics.median(self.bare_ms), 1) if self.bare_ms else None,
            "backend_ms_p50": round(statistics.median(self.backend_ms), 1) if self.backend_ms else None,
            "identical_answers": sum(self.identical),
            "goal_ratio_at_most": GOAL_RATIO,
            "goal_met": bool(ratios) and median <= GOAL_RATIO and all(self.identical),
            "loadavg": self.loadavg,
        }

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "raw": asdict(self)}


def bootstrap_median_ci(values: Sequence[float], draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median (nan, nan for no values)."""
    if not values:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def run_backend_benchmark(*, model: str, threads: int, max_tokens: int, prompts: int, rounds: int,
                          progress: Callable[[str], None]) -> BackendBenchResult:
    import trio
    from llama_cpp import Llama
    from peermind.node.extension import LlamaBackend, resolve_model

    profile = resolve_model(model)
    result = BackendBenchResult(model=profile.name, threads=threads, max_tokens=max_tokens)
    result.loadavg["start"] = [round(x, 2) for x in os.getloadavg()]
    bare = Llama(model_path=str(profile.path), n_ctx=2048, n_batch=512, n_threads=threads,
                 n_threads_batch=threads, verbose=False)

    def bare_call(prompt: str) -> tuple[float, str]:
        started = time.perf_counter()
        out = bare.create_chat_completion(messages=[{"role": "user", "content": prompt}],
                                          max_tokens=max_tokens, temperature=0.0)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if not isinstance(out, dict):  # a stream; not asked for
            raise TypeError("create_chat_completion returned a stream")
        return elapsed_ms, str(out["choices"][0]["message"]["content"] or "")

    async def measure() -> None:
        backend = await LlamaBackend.load(profile, n_threads=threads)
        try:
            async def backend_call(prompt: str) -> tuple[float, str, int]:
                started = time.perf_counter()
                out = await backend.generate([{"role": "user", "content": prompt}], max_tokens=max_tokens)
                return (time.perf_counter() - started) * 1000, out.text, out.completion_tokens

            # Warm both (the first calls page the weights in) on a prompt that is not measured:
            # a bare Llama asked the same prompt twice re-evaluates only its last token, and its
            # answer then differs from its first (the history dependence the backend avoids).
            await backend_call(WARM_UP)
            bare_call(WARM_UP)
            pair = 0
            for r in range(rounds):
                for prompt in PROMPTS[:prompts]:
                    if pair % 2 == 0:
                        bare_ms, bare_text = bare_call(prompt)
                        backend_ms, text, tokens = await backend_call(prompt)
                    else:
                        backend_ms, text, tokens = await backend_call(prompt)
                        bare_ms, bare_text = bare_call(prompt)
                    pair += 1
                    result.bare_ms.append(round(bare_ms, 2))
                    result.backend_ms.append(round(backend_ms, 2))
                    result.tokens.append(tokens)
                    # The backend strips surrounding whitespace from chat answers; so does this.
                    result.identical.append(text == bare_text.strip())
                progress(f"round {r + 1}/{rounds}: {pair} pairs")
        finally:
            await backend.aclose()

    try:
        trio.run(measure)
    finally:
        bare.close()
    result.loadavg["end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def format_markdown(result: BackendBenchResult, command: str) -> str:
    s = result.summary()
    low, high = s["ratio_p50_ci95"]
    lines = [
        "# LlamaBackend vs a bare create_chat_completion",
        "",
        f"Command: `{command}`" if command else "",
        "",
        f"{result.model}, {result.threads} llama.cpp thread(s), {result.max_tokens}-token greedy answers, "
        f"{s['pairs']} alternating pairs (order flipped every pair).",
        "",
        "| measure | value | goal |",
        "|---|---:|---|",
        f"| backend / bare, per-pair p50 (95% CI) | {s['ratio_p50']} ({low}-{high}) | <= {GOAL_RATIO} |",
        f"| backend / bare, ratio of summed times | {s['ratio_of_sums']} | |",
        f"| bare create_chat_completion, p50 ms | {s['bare_ms_p50']} | |",
        f"| LlamaBackend.generate, p50 ms | {s['backend_ms_p50']} | |",
        f"| byte-identical answers | {s['identical_answers']} / {s['pairs']} | all |",
        "",
        f"Machine load (1/5/15 min, 2 cores) at start {s['loadavg'].get('start')}, "
        f"at end {s['loadavg'].get('end')}.",
    ]
    return "\n".join(lines) + "\n"


def write_results(result: BackendBenchResult, out: Path, command: str, *, show: bool = False) -> str:
    """The run's JSON and markdown report (``write_bench_results``); returns the markdown."""
    return write_bench_results(out, {**result.to_json(), "command": command}, format_markdown(result, command), show=show)


def cmd_bench_backend(args: Any) -> int:
    import shlex
    import sys

    command = "peermind " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else ""
    result = run_backend_benchmark(model=args.model, threads=args.threads, max_tokens=args.max_tokens,
                                   prompts=args.prompts, rounds=args.rounds,
                                   progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    write_results(result, args.out, command, show=True)
    return 0


def add_parser(bench: Any) -> None:
    p = bench.add_parser(
        "backend", help="the node's LlamaBackend vs a bare llama_cpp create_chat_completion (time, identical answers)",
        description="Alternates the same greedy chat prompts between a bare llama_cpp Llama and the node's "
                    "LlamaBackend in this process (same model file and threads) and reports the per-pair time "
                    "ratio (median, bootstrap 95%% CI), the ratio of summed times and byte-identical answers.",
    )
    p.add_argument("--model", default="smollm2", help="model profile or .gguf path (default smollm2)")
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads for both (default 1)")
    p.add_argument("--max-tokens", type=int, default=64, help="tokens per answer (default 64)")
    p.add_argument("--prompts", type=int, default=20, help=f"how many of the {len(PROMPTS)} fixed prompts (default 20)")
    p.add_argument("--rounds", type=int, default=2, help="passes over the prompts (default 2)")
    p.add_argument("--out", type=Path, default=Path("docs/results/backend-bench.json"),
                   help="results JSON (.md beside it)")
    p.set_defaults(func=cmd_bench_backend)
