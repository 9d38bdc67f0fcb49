"""What a peer's task costs this node, in tokens: the unit of work allowances.

Charged before the task runs (prompt tokens estimated from its text, plus every token it
may generate) and settled when it ends: the unused part of the generation budget, or all
of it for a task that never ran, goes back to the peer's bucket. Estimating is enough:
allowances bound a peer's share of the model, they do not bill it.
"""

from __future__ import annotations

from typing import NamedTuple

from peermind.protocol import TaskRefusal, TaskRequest, TaskResult

__all__ = ["CHARS_PER_TOKEN", "ModelSpeed", "task_cost", "task_seconds", "used_seconds", "used_tokens"]

CHARS_PER_TOKEN = 4.0
"""English text averages about four characters per token in the models' tokenizers."""
MESSAGE_OVERHEAD = 4
"""Chat-template tokens around each message."""


def prompt_tokens(request: TaskRequest) -> float:
    """An estimate of the prompt tokens ``request`` feeds the model (continuations included)."""
    chars = (len(request.prompt) + sum(len(m.content) for m in request.messages)
             + sum(len(c) for c in request.continuations))
    return chars / CHARS_PER_TOKEN + MESSAGE_OVERHEAD * len(request.messages)


def task_cost(request: TaskRequest) -> float:
    """Tokens charged before ``request`` runs: its prompt plus all it may generate."""
    generated = request.max_tokens if request.kind == "generate" else 0
    return max(1.0, prompt_tokens(request) + generated)


def used_tokens(request: TaskRequest, reply: TaskResult | TaskRefusal | None) -> float:
    """Tokens the task really took: 0 if it never ran, else its reported prompt + completion
    tokens (the estimate where the result reports none, as score tasks do)."""
    if not isinstance(reply, TaskResult):
        return 0.0
    reported = reply.prompt_tokens + reply.completion_tokens
    if reported <= 0:
        return task_cost(request)
    return float(reported)


class ModelSpeed(NamedTuple):
    """This node's model speeds (tokens/s), to turn tokens into model time."""

    prompt_tps: float
    gen_tps: float


def task_seconds(request: TaskRequest, speed: ModelSpeed) -> float:
    """Model time ``request`` may take here: its prompt at prompt speed plus all it may generate
    at generation speed. A prompt token costs a tenth of a generated one or less (evaluated in
    batches), so a budget in tokens would price a scoring canary like a long essay."""
    generated = request.max_tokens if request.kind == "generate" else 0
    return prompt_tokens(request) / max(speed.prompt_tps, 1e-3) + generated / max(speed.gen_tps, 1e-3)


def used_seconds(request: TaskRequest, reply: TaskResult | TaskRefusal | None, speed: ModelSpeed) -> float:
    """Model time the task really took, from its reported tokens (0 if it never ran; the estimate
    where the result reports none, as score tasks do)."""
    if not isinstance(reply, TaskResult):
        return 0.0
    if reply.prompt_tokens + reply.completion_tokens <= 0:
        return task_seconds(request, speed)
    return reply.prompt_tokens / max(speed.prompt_tps, 1e-3) + reply.completion_tokens / max(speed.gen_tps, 1e-3)
