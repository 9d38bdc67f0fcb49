"""What a peer's task costs this node, in tokens: the unit of work allowances.

Charged before the task runs (prompt tokens estimated from its text, plus every token it
may generate) and settled when it ends: the unused part of the generation budget, or all
of it for a task that never ran, goes back to the peer's bucket. Estimating is enough:
allowances bound a peer's share of the model, they do not bill it.
"""

from __future__ import annotations

from peermind.protocol import TaskRefusal, TaskRequest, TaskResult

__all__ = ["CHARS_PER_TOKEN", "task_cost", "used_tokens"]

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
