"""Deadline arithmetic: can a task still finish in time, and how many tokens fit.

Pure functions over a speed snapshot so the rules are testable without a model.
The rules, in order:

1. Admission (before queueing): refuse if the deadline has passed, or if the
   estimated queue wait (tasks ahead / max_concurrency x mean task time) plus
   the prompt time (prompt tokens / prompt_tps) plus the time of the minimum
   useful answer (min(max_tokens, MIN_USEFUL_TOKENS) / gen_tps) exceeds the
   time left. Without any speed estimate yet (no measure(), no finished task)
   only a passed deadline is refused.
2. Start (after the queue, once the prompt is tokenised): the same sum without
   the wait; max_tokens is clipped to floor((time left - prompt time) x gen_tps);
   if that is below the minimum useful answer the task is refused.
3. During generation: generation stops at a token boundary (finish_reason
   "length") once the next token, at this run's own pace, would end past the
   deadline. llama.cpp cannot be interrupted inside a call, so a prompt
   evaluation that has started always completes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ._errors import DeadlineUnmeetable

MIN_USEFUL_TOKENS = 16
"""An answer clipped below this many tokens is refused instead (unless fewer were asked)."""

CHARS_PER_TOKEN = 4.0
"""Rough text-to-token ratio for estimates made before tokenising."""

_EWMA_WEIGHT = 0.3


@dataclass(frozen=True)
class Speed:
    """Throughput estimates; any field may still be unknown (None)."""

    prompt_tps: float | None = None
    gen_tps: float | None = None
    task_s: float | None = None


class SpeedTracker:
    """Exponentially weighted speeds from measure() and from finished tasks."""

    def __init__(self) -> None:
        self._prompt_tps: float | None = None
        self._gen_tps: float | None = None
        self._task_s: float | None = None
        self._updated_at: float | None = None

    @staticmethod
    def _blend(old: float | None, new: float) -> float:
        return new if old is None else (1 - _EWMA_WEIGHT) * old + _EWMA_WEIGHT * new

    def observe_prompt(self, tokens: int, seconds: float) -> None:
        # Tiny evaluations are dominated by fixed overhead and would understate throughput.
        if tokens >= 8 and seconds > 0:
            self._prompt_tps = self._blend(self._prompt_tps, tokens / seconds)
            self._updated_at = time.monotonic()

    def observe_generation(self, tokens: int, seconds: float) -> None:
        if tokens >= 4 and seconds > 0:
            self._gen_tps = self._blend(self._gen_tps, tokens / seconds)
            self._updated_at = time.monotonic()

    def age_s(self) -> float | None:
        """Seconds since a throughput was last observed (None: never)."""
        return None if self._updated_at is None else time.monotonic() - self._updated_at

    def observe_task(self, seconds: float) -> None:
        if seconds >= 0:
            self._task_s = self._blend(self._task_s, seconds)

    def reset_to(self, prompt_tps: float, gen_tps: float) -> None:
        """A fresh self-benchmark replaces the throughput history."""
        self._prompt_tps, self._gen_tps = prompt_tps, gen_tps
        self._updated_at = time.monotonic()

    def snapshot(self) -> Speed:
        return Speed(self._prompt_tps, self._gen_tps, self._task_s)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def min_useful_tokens(max_tokens: int) -> int:
    return min(max_tokens, MIN_USEFUL_TOKENS)


def _prompt_seconds(tokens: int, speed: Speed) -> float:
    return tokens / speed.prompt_tps if speed.prompt_tps else 0.0


def _gen_seconds(tokens: int, speed: Speed) -> float:
    return tokens / speed.gen_tps if speed.gen_tps else 0.0


def queue_wait_estimate(ahead: int, max_concurrency: int, speed: Speed) -> float:
    """Seconds until a slot frees up for a task with ``ahead`` tasks before it."""
    if not speed.task_s or ahead < max_concurrency:
        return 0.0
    return (ahead - max_concurrency + 1) / max_concurrency * speed.task_s


def admit(
    *,
    time_left: float,
    ahead: int,
    max_concurrency: int,
    speed: Speed,
    prompt_tokens: int,
    gen_tokens: int,
) -> None:
    """Rule 1: raise DeadlineUnmeetable unless the task plausibly finishes in time."""
    if time_left <= 0:
        raise DeadlineUnmeetable(
            f"deadline passed {-time_left:.3f} s ago; send the task with a later deadline"
        )
    wait = queue_wait_estimate(ahead, max_concurrency, speed)
    work = _prompt_seconds(prompt_tokens, speed) + _gen_seconds(gen_tokens, speed)
    if wait + work > time_left:
        raise DeadlineUnmeetable(
            f"estimated {wait:.2f} s queue wait + {work:.2f} s work exceeds the "
            f"{time_left:.2f} s left ({ahead} task(s) ahead); allow more time or ask another peer"
        )


def clip_max_tokens(*, time_left: float, prompt_tokens: int, max_tokens: int, speed: Speed) -> int:
    """Rule 2: the max_tokens that fits the time left, or DeadlineUnmeetable."""
    if time_left <= 0:
        raise DeadlineUnmeetable(
            f"deadline passed {-time_left:.3f} s ago while queued; allow more time or ask another peer"
        )
    if not speed.gen_tps:
        return max_tokens
    room = time_left - _prompt_seconds(prompt_tokens, speed)
    fits = math.floor(max(room, 0.0) * speed.gen_tps)
    if fits < min_useful_tokens(max_tokens):
        raise DeadlineUnmeetable(
            f"only ~{fits} token(s) fit the {time_left:.2f} s left after a "
            f"{prompt_tokens}-token prompt (at least {min_useful_tokens(max_tokens)} needed); "
            "allow more time or ask another peer"
        )
    return min(max_tokens, fits)


def check_score_fits(*, time_left: float, tokens: int, speed: Speed) -> None:
    """Rule 2 for score(): all tokens must be evaluated before the deadline."""
    if time_left <= 0:
        raise DeadlineUnmeetable(
            f"deadline passed {-time_left:.3f} s ago while queued; allow more time or ask another peer"
        )
    needed = _prompt_seconds(tokens, speed)
    if needed > time_left:
        raise DeadlineUnmeetable(
            f"scoring {tokens} tokens needs ~{needed:.2f} s but only {time_left:.2f} s are left; "
            "allow more time or ask another peer"
        )


def next_token_would_miss(*, now: float, stop_at: float, tokens_done: int, gen_seconds: float) -> bool:
    """Rule 3: would one more token, at this run's pace, end past ``stop_at``?"""
    per_token = gen_seconds / tokens_done if tokens_done else 0.0
    return now + per_token > stop_at
