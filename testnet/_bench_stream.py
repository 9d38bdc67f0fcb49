"""Time to first token through the network vs the answering model's own (``peermind bench stream``).

Two figures against the goals of issue 15, on a 2-node loopback testnet (node A's API with
``stream=true``, ``mode=route``, ``peer=B``, so every token crosses libp2p as a signed chunk):

* TTFT through the network vs the model's own TTFT: the same prompt, same GGUF file and
  thread count, streamed by ``llama_cpp`` directly in this process (its KV cache reset
  first, as B evaluates every prompt afresh). Goal: network <= 1.5 x own + 20 ms.
* TTFT through the network as a share of the whole 64-token answer's time. Goal: < 25 %.

TTFT is the time from sending the request to the first non-blank piece of text. Direct and
network requests alternate prompt by prompt, so load from other processes on a shared
machine hits both alike; the 1/5/15-minute load averages are recorded at start and end.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ._bench_node import PROMPTS, Progress, _quantile, _wait_for_ad, two_node_testnet
from .errors import TestnetError

GOALS = {"ttft_ratio": 1.5, "ttft_slack_ms": 20.0, "ttft_share_pct": 25.0}


@dataclass(frozen=True)
class StreamTiming:
    ttft_ms: float
    total_ms: float
    pieces: int  # non-blank text pieces received (SSE chunks, or llama_cpp stream deltas)
    completion_tokens: int


@dataclass
class StreamBenchResult:
    model: str
    threads: int
    max_tokens: int
    prompts: int
    direct: list[StreamTiming] = field(default_factory=list)
    network: list[StreamTiming] = field(default_factory=list)
    loadavg: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        d_ttft = [t.ttft_ms for t in self.direct]
        n_ttft = [t.ttft_ms for t in self.network]
        ratios = [n / d for n, d in zip(n_ttft, d_ttft, strict=True)]
        shares = [100 * t.ttft_ms / t.total_ms for t in self.network]
        allowed = [GOALS["ttft_ratio"] * d + GOALS["ttft_slack_ms"] for d in d_ttft]
        p50_direct, p50_network = statistics.median(d_ttft), statistics.median(n_ttft)
        return {
            "direct_ttft_p50_ms": round(p50_direct, 1),
            "network_ttft_p50_ms": round(p50_network, 1),
            "network_ttft_p90_ms": round(_quantile(n_ttft, 0.9), 1),
            "ttft_ratio_p50": round(statistics.median(ratios), 3),
            "ttft_added_p50_ms": round(statistics.median(n - d for n, d in zip(n_ttft, d_ttft, strict=True)), 1),
            "ttft_goal_met_p50": p50_network <= GOALS["ttft_ratio"] * p50_direct + GOALS["ttft_slack_ms"],
            "ttft_goal_met_share": round(sum(n <= a for n, a in zip(n_ttft, allowed, strict=True)) / len(n_ttft), 3),
            "network_total_p50_ms": round(statistics.median(t.total_ms for t in self.network), 1),
            "direct_total_p50_ms": round(statistics.median(t.total_ms for t in self.direct), 1),
            "ttft_share_of_total_p50_pct": round(statistics.median(shares), 2),
            "ttft_share_of_total_max_pct": round(max(shares), 2),
            "network_completion_tokens_p50": statistics.median(t.completion_tokens for t in self.network),
            "network_pieces_p50": statistics.median(t.pieces for t in self.network),
            "goals": GOALS,
        }

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        config = {key: raw.pop(key) for key in ("model", "threads", "max_tokens", "prompts")}
        machine = {"cpus": os.cpu_count(), "loadavg": raw.pop("loadavg")}
        return {"config": config, "machine": machine, "summary": self.summary(), "raw": raw}


class DirectStream:
    """The GGUF file streamed by llama-cpp-python in this process: the model's own TTFT."""

    def __init__(self, model_path: Path, *, threads: int, n_ctx: int = 2048) -> None:
        from llama_cpp import Llama

        self._llm: Any = Llama(model_path=str(model_path), n_ctx=n_ctx, n_batch=min(512, n_ctx),
                               n_threads=threads, n_threads_batch=threads, verbose=False)

    def stream(self, prompt: str, max_tokens: int) -> StreamTiming:
        self._llm.reset()  # no prompt-prefix reuse: a peer evaluates every prompt afresh
        started = time.perf_counter()
        first: float | None = None
        pieces = 0
        for chunk in self._llm.create_chat_completion(messages=[{"role": "user", "content": prompt}],
                                                      max_tokens=max_tokens, temperature=0.0, stream=True):
            content = chunk["choices"][0]["delta"].get("content") or ""
            if content.strip() or (first is not None and content):
                first = first if first is not None else time.perf_counter()
                pieces += 1
        done = time.perf_counter()
        if first is None:
            raise TestnetError(f"llama_cpp produced no text for {prompt!r}")
        return StreamTiming((first - started) * 1000, (done - started) * 1000, pieces, pieces)

    def close(self) -> None:
        self._llm = None
        gc.collect()


def stream_through(http: httpx.Client, api_url: str, peer: str, prompt: str, max_tokens: int) -> StreamTiming:
    """One ``stream=true`` chat completion through node A, answered by ``peer``; raises on an error event."""
    body = {"model": "auto", "stream": True, "max_tokens": max_tokens, "temperature": 0.0,
            "messages": [{"role": "user", "content": prompt}],
            "peermind": {"mode": "route", "peer": peer, "timeout_s": 300}}
    started = time.perf_counter()
    first: float | None = None
    pieces, tokens = 0, 0
    with http.stream("POST", api_url + "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise TestnetError(f"node A answered {response.status_code}: {response.read()[:300]!r}")
        for line in response.iter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            event = json.loads(line[5:])
            if "error" in event:
                raise TestnetError(f"the stream ended with an error: {event['error']}")
            if event["choices"][0]["delta"].get("content"):
                first = first if first is not None else time.perf_counter()
                pieces += 1
            if event.get("usage"):
                tokens = int(event["usage"]["completion_tokens"])
                if event["peermind"]["answered_by"] != peer:
                    raise TestnetError(f"answered by {event['peermind']['answered_by']}, not B")
    done = time.perf_counter()
    if first is None:
        raise TestnetError(f"no text arrived for {prompt!r}")
    return StreamTiming((first - started) * 1000, (done - started) * 1000, pieces, tokens)


def run_stream_network(result: StreamBenchResult, prompts: Sequence[str], workdir: Path, model_path: Path, *,
                       progress: Progress) -> None:
    with two_node_testnet(workdir, result.model, result.threads) as (a, b), httpx.Client(timeout=300) as http:
        _wait_for_ad(http, a.state["api_url"], b)
        api, peer = a.state["api_url"], b.state["peer_id"]
        direct = DirectStream(model_path, threads=result.threads)
        try:
            direct.stream("Hello.", result.max_tokens)  # warm-ups, not counted
            stream_through(http, api, peer, "Hello.", result.max_tokens)
            for i, prompt in enumerate(prompts):
                here = direct.stream(prompt, result.max_tokens)
                there = stream_through(http, api, peer, prompt, result.max_tokens)
                result.direct.append(here)
                result.network.append(there)
                progress(f"{i + 1}/{len(prompts)}: TTFT direct {here.ttft_ms:.0f} ms, network "
                         f"{there.ttft_ms:.0f} ms of {there.total_ms:.0f} ms ({there.pieces} chunks)")
        finally:
            direct.close()


def run_stream_benchmark(*, prompts: int = 20, max_tokens: int = 64, threads: int = 1, model: str = "smollm2",
                         workdir: Path | None = None, progress: Progress = lambda _m: None) -> StreamBenchResult:
    from peermind.node.extension import resolve_model

    if not 1 <= prompts <= len(PROMPTS):
        raise TestnetError(f"--prompts must be between 1 and {len(PROMPTS)}")
    profile = resolve_model(model)
    result = StreamBenchResult(model=profile.name, threads=threads, max_tokens=max_tokens, prompts=prompts)
    progress(f"2-node loopback testnet; {prompts} prompts x {max_tokens} tokens streamed, direct and via A -> B")
    with _directory(workdir) as where:
        result.loadavg["start"] = _loadavg()
        run_stream_network(result, PROMPTS[:prompts], where, profile.path, progress=progress)
        result.loadavg["end"] = _loadavg()
    return result


@contextmanager
def _directory(workdir: Path | None) -> Iterator[Path]:
    """``workdir`` if given (kept), else a temporary directory (removed)."""
    if workdir is not None:
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="peermind-bench-") as tmp:
        yield Path(tmp)


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def format_table(result: StreamBenchResult) -> Any:
    """A rich Table of the figures next to their goals."""
    from rich.table import Table

    s = result.summary()
    met = "met" if s["ttft_goal_met_p50"] else "MISSED"
    share_met = "met" if s["ttft_share_of_total_p50_pct"] < GOALS["ttft_share_pct"] else "MISSED"
    rows = [
        ("model's own TTFT (llama_cpp direct), p50", f"{s['direct_ttft_p50_ms']} ms", ""),
        ("TTFT through A -> B (SSE), p50 / p90", f"{s['network_ttft_p50_ms']} / {s['network_ttft_p90_ms']} ms",
         f"<= {GOALS['ttft_ratio']}x own + {GOALS['ttft_slack_ms']:.0f} ms: {met}"),
        ("ratio network / own TTFT, p50", f"{s['ttft_ratio_p50']}", ""),
        ("added to TTFT by the network path, p50", f"{s['ttft_added_p50_ms']} ms", ""),
        ("prompts within the TTFT goal", f"{100 * s['ttft_goal_met_share']:.0f} %", ""),
        ("TTFT as a share of the whole answer, p50 / max", f"{s['ttft_share_of_total_p50_pct']} / "
         f"{s['ttft_share_of_total_max_pct']} %", f"< {GOALS['ttft_share_pct']:.0f} %: {share_met}"),
        ("whole answer, network / direct p50", f"{s['network_total_p50_ms']} / {s['direct_total_p50_ms']} ms", ""),
        ("tokens per answer / SSE text chunks, p50", f"{s['network_completion_tokens_p50']} / {s['network_pieces_p50']}", ""),
        ("machine load (1-min avg, start / end)",
         f"{result.loadavg.get('start', ['?'])[0]} / {result.loadavg.get('end', ['?'])[0]} on {os.cpu_count()} CPUs", ""),
    ]
    table = Table("measure", "value", "goal", title=f"peermind stream benchmark: {result.model}, "
                  f"{result.prompts} prompts x {result.max_tokens} tokens, {result.threads} thread(s)")
    for row in rows:
        table.add_row(*row)
    return table
