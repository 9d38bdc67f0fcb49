"""What a task costs the newcomer pool: model time from this node's speeds (node/trust_wiring/_work.py)."""

from __future__ import annotations

import time

import pytest
from peermind.node.trust_wiring import ModelSpeed, task_seconds, used_seconds
from peermind.protocol import TaskRefusal, TaskRequest, TaskResult

SPEED = ModelSpeed(prompt_tps=400.0, gen_tps=40.0)


def _request(kind: str, max_tokens: int) -> TaskRequest:
    return TaskRequest(task_id=b"t" * 16, kind=kind, prompt="x" * 392, max_tokens=max_tokens,  # ~100 prompt tokens
                       continuations=[" a" * 2, " b" * 2] if kind == "score" else [],
                       deadline_ms=int((time.time() + 60) * 1000))


def test_a_scoring_canary_costs_its_prompt_and_an_essay_its_generation() -> None:
    """In model time a scoring canary costs a quarter of a second and a 256-token essay 6.6 s; in
    tokens (100 vs 354) the canary would cost a quarter of the essay instead of a 26th."""
    assert task_seconds(_request("score", 256), SPEED) == pytest.approx(0.25)  # (392 + 8) / 4 tokens
    assert task_seconds(_request("generate", 256), SPEED) == pytest.approx(98 / 400 + 6.4)


def test_what_a_task_used_comes_from_its_reported_tokens() -> None:
    essay = _request("generate", 256)
    short = TaskResult(task_id=essay.task_id, text="x", prompt_tokens=100, completion_tokens=16)
    assert used_seconds(essay, short, SPEED) == pytest.approx(0.25 + 0.4)  # as reported
    assert used_seconds(essay, None, SPEED) == 0.0
    assert used_seconds(essay, TaskRefusal(task_id=essay.task_id, reason="busy"), SPEED) == 0.0
    unreported = TaskResult(task_id=essay.task_id, text="x")
    assert used_seconds(essay, unreported, SPEED) == task_seconds(essay, SPEED)
