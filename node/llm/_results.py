"""Immutable results handed back by the backend (safe to share across tasks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Generation:
    """One completion.

    ``mean_logprob`` is the mean natural-log probability the model gave the
    tokens it produced (end-of-generation token excluded; 0.0 when no token
    was produced): a cheap confidence signal for cascades. ``latency_s`` is
    wall time from the call to the result, queueing included.
    ``finish_reason`` is "stop" (end token or stop sequence) or "length"
    (max_tokens, the context window, or the deadline clipped the answer).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    mean_logprob: float
    latency_s: float
    model: str
    finish_reason: FinishReason


@dataclass(frozen=True)
class ContinuationScore:
    """Log-likelihood of one continuation given a context."""

    logprob: float
    n_tokens: int

    @property
    def normalized(self) -> float:
        """Per-token log-likelihood: compares continuations of different lengths."""
        return self.logprob / max(self.n_tokens, 1)


@dataclass(frozen=True)
class Measurement:
    """Self-benchmark of this backend on this machine, as advertised to peers."""

    prompt_tps: float
    gen_tps: float
    n_ctx: int
    ram_available_mb: float
    model_size_mb: float
    quant: str
    n_threads: int
