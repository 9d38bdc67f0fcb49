"""The seam between the async backend and one synchronous model instance.

The backend owns queueing, deadlines and threads; an Engine owns one model
and runs one job at a time in a worker thread. Tests inject small fake
engines through ``LlamaBackend.load(..., engine_factory=...)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from peermind.protocol import ChatMessage

from ._admission import Speed
from ._profiles import ModelProfile
from ._results import ContinuationScore, FinishReason


@dataclass(frozen=True)
class EngineOptions:
    n_threads: int
    n_ctx: int


@dataclass(frozen=True)
class GenerateJob:
    """Exactly one of messages/prompt is set. ``stop_at`` is a time.perf_counter() value."""

    messages: tuple[ChatMessage, ...] | None
    prompt: str | None
    max_tokens: int
    temperature: float
    stop: tuple[str, ...]
    seed: int | None
    stop_at: float | None
    speed: Speed
    yield_flag: threading.Event | None = None
    """Set (from the event loop) when more urgent work waits: stop at the next token."""
    on_text: Callable[[str], bool] | None = None
    """Streaming: called after each token with the text no stop sequence can cut any more
    (see _streaming.committed_text); returning False stops the generation (nobody listens)."""


@dataclass(frozen=True)
class RawGeneration:
    text: str
    prompt_tokens: int
    completion_tokens: int
    mean_logprob: float
    finish_reason: FinishReason
    prompt_evaluated: int  # prompt tokens evaluated during prompt_s (for throughput estimates)
    prompt_s: float
    gen_s: float


@dataclass(frozen=True)
class ScoreJob:
    context: str
    continuations: tuple[str, ...]
    stop_at: float | None
    speed: Speed


@dataclass(frozen=True)
class RawScores:
    scores: tuple[ContinuationScore, ...]
    evaluated_tokens: int
    seconds: float


@dataclass(frozen=True)
class RawMeasurement:
    prompt_tps: float
    gen_tps: float


class Engine(Protocol):
    """One model instance; methods block and are called from one thread at a time."""

    def generate(self, job: GenerateJob) -> RawGeneration: ...

    def score(self, job: ScoreJob) -> RawScores: ...

    def measure(self) -> RawMeasurement: ...

    def close(self) -> None: ...


EngineFactory = Callable[[ModelProfile, EngineOptions], Engine]
