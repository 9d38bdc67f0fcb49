"""Deadline arithmetic and log-likelihood helpers of peermind.node.llm (pure functions)."""

import math

import numpy as np
import pytest
from peermind.node.llm import DeadlineUnmeetable
from peermind.node.llm._admission import (
    MIN_USEFUL_TOKENS,
    Speed,
    SpeedTracker,
    admit,
    check_score_fits,
    clip_max_tokens,
    next_token_would_miss,
    queue_wait_estimate,
)
from peermind.node.llm._scoring import continuation_tokens, move_trailing_space, token_logprobs

KNOWN = Speed(prompt_tps=100.0, gen_tps=10.0, task_s=2.0)


def test_passed_deadline_is_refused_even_without_estimates() -> None:
    with pytest.raises(DeadlineUnmeetable, match="passed"):
        admit(time_left=-0.1, ahead=0, max_concurrency=1, speed=Speed(),
              prompt_tokens=10, gen_tokens=16)


def test_unknown_speed_admits_any_future_deadline() -> None:
    admit(time_left=0.001, ahead=7, max_concurrency=1, speed=Speed(),
          prompt_tokens=10_000, gen_tokens=16)


def test_admission_counts_queue_wait_prompt_and_minimum_answer() -> None:
    # 3 ahead on 1 slot: 3 x 2 s wait; 100 prompt tokens: 1 s; 16 tokens: 1.6 s -> 8.6 s.
    admit(time_left=8.7, ahead=3, max_concurrency=1, speed=KNOWN, prompt_tokens=100, gen_tokens=16)
    with pytest.raises(DeadlineUnmeetable, match="3 task"):
        admit(time_left=8.5, ahead=3, max_concurrency=1, speed=KNOWN,
              prompt_tokens=100, gen_tokens=16)


def test_queue_wait_uses_all_slots() -> None:
    assert queue_wait_estimate(0, 2, KNOWN) == 0.0
    assert queue_wait_estimate(1, 2, KNOWN) == 0.0  # a slot is still free
    assert queue_wait_estimate(2, 2, KNOWN) == pytest.approx(1.0)
    assert queue_wait_estimate(4, 2, KNOWN) == pytest.approx(3.0)


def test_clip_max_tokens_fits_the_time_left() -> None:
    # 5 s left, 100-token prompt takes 1 s, 4 s x 10 tok/s = 40 tokens.
    assert clip_max_tokens(time_left=5.0, prompt_tokens=100, max_tokens=128, speed=KNOWN) == 40
    assert clip_max_tokens(time_left=5.0, prompt_tokens=100, max_tokens=20, speed=KNOWN) == 20
    assert clip_max_tokens(time_left=0.5, prompt_tokens=0, max_tokens=64, speed=Speed()) == 64


def test_clip_refuses_when_less_than_a_useful_answer_fits() -> None:
    with pytest.raises(DeadlineUnmeetable, match="token"):
        clip_max_tokens(time_left=2.0, prompt_tokens=100, max_tokens=128, speed=KNOWN)
    # Asking for fewer than MIN_USEFUL_TOKENS lowers the bar accordingly.
    assert clip_max_tokens(time_left=1.5, prompt_tokens=100, max_tokens=4, speed=KNOWN) == 4
    assert MIN_USEFUL_TOKENS == 16


def test_score_must_fit_entirely() -> None:
    check_score_fits(time_left=1.1, tokens=100, speed=KNOWN)
    with pytest.raises(DeadlineUnmeetable):
        check_score_fits(time_left=0.9, tokens=100, speed=KNOWN)
    with pytest.raises(DeadlineUnmeetable, match="passed"):
        check_score_fits(time_left=0.0, tokens=1, speed=Speed())


def test_next_token_guard_uses_the_runs_own_pace() -> None:
    assert not next_token_would_miss(now=10.0, stop_at=10.5, tokens_done=10, gen_seconds=1.0)
    assert next_token_would_miss(now=10.45, stop_at=10.5, tokens_done=10, gen_seconds=1.0)


def test_speed_tracker_blends_and_ignores_tiny_samples() -> None:
    tracker = SpeedTracker()
    assert tracker.snapshot() == Speed()
    tracker.observe_prompt(4, 0.001)  # too few tokens to mean anything
    tracker.observe_generation(10, 1.0)
    assert tracker.snapshot().prompt_tps is None
    assert tracker.snapshot().gen_tps == pytest.approx(10.0)
    tracker.observe_generation(20, 1.0)
    assert tracker.snapshot().gen_tps == pytest.approx(0.7 * 10 + 0.3 * 20)
    tracker.reset_to(500.0, 50.0)
    assert tracker.snapshot().gen_tps == 50.0


def test_token_logprobs_is_log_softmax_at_the_token() -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(3, 50)).astype(np.float32) * 10
    tokens = [4, 0, 49]
    expected = [
        float(rows[i, t]) - math.log(sum(math.exp(float(x)) for x in rows[i]))
        for i, t in enumerate(tokens)
    ]
    assert token_logprobs(rows, tokens) == pytest.approx(expected, abs=1e-9)
    assert (token_logprobs(rows, tokens) <= 0).all()


def test_trailing_space_moves_to_the_continuation() -> None:
    assert move_trailing_space("Answer: ", "Paris") == ("Answer:", " Paris")
    assert move_trailing_space("Answer:\n", "") == ("Answer:", "\n")
    assert move_trailing_space("Answer:", " Paris") == ("Answer:", " Paris")


def _char_tokenizer(merge: str | None = None):
    """Tokenises by character, optionally merging one two-character string into one token."""

    def tokenize(text: str, add_bos: bool) -> list[int]:
        out: list[int] = [0] if add_bos else []
        i = 0
        while i < len(text):
            if merge and text.startswith(merge, i):
                out.append(1000)
                i += len(merge)
            else:
                out.append(ord(text[i]))
                i += 1
        return out

    return tokenize


def test_continuation_tokens_come_from_the_joint_tokenisation() -> None:
    tok = _char_tokenizer()
    ctx = tok("Q:", True)
    assert continuation_tokens(ctx, "Q:", " ab", tok) == [ord(" "), ord("a"), ord("b")]


def test_boundary_merge_falls_back_to_separate_tokenisation() -> None:
    tok = _char_tokenizer(merge=":x")  # ":" + "x" merge across the boundary
    ctx = tok("Q:", True)
    assert continuation_tokens(ctx, "Q:", "xy", tok) == [ord("x"), ord("y")]
