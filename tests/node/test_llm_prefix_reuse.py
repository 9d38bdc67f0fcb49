"""KV prefix reuse in whole blocks: answers byte-identical with and without it.

The unit tests check the block rules on token lists; the integration test runs many chat
prompts (shared template openings, system messages, multi-turn after its first turn, repeats) through two real
SmolLM2 engines one after the other, one keeping whole blocks of the previous prompt and
one always starting from an empty cache, and demands the same text, token counts and
mean log-probability (compared exactly: the logits must be the same bits).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from peermind.node.llm import resolve_model
from peermind.node.llm._admission import SpeedTracker
from peermind.node.llm._engine_api import EngineOptions, GenerateJob, ScoreJob
from peermind.node.llm._llama_engine import LlamaEngine
from peermind.node.llm._prefix import block_starts, blocks, kept_prefix
from peermind.node.llm._prompting import validate_messages

CONTROL = {100, 101}


def is_control(token: int) -> bool:
    return token in CONTROL


def test_blocks_start_at_control_tokens() -> None:
    tokens = [100, 5, 6, 101, 7, 100, 8, 9]
    assert block_starts(tokens, is_control) == [0, 3, 5]
    assert blocks([0, 3, 5], 0, len(tokens)) == [(0, 3), (3, 5), (5, 8)]
    assert blocks([0, 3, 5], 3, len(tokens)) == [(3, 5), (5, 8)]


def test_the_final_turn_is_one_block() -> None:
    # opening, then a turn of three control tokens (user, end of turn, assistant): one block.
    tokens = [100, 5, 101, 100, 7, 8, 101, 100, 9]
    assert block_starts(tokens, is_control, tail_controls=3) == [0, 2, 3]
    assert blocks([0, 2, 3], 3, len(tokens)) == [(3, 9)]
    # Fewer control tokens than the turn has: everything after position 0 is one block.
    assert block_starts([100, 5, 101, 6], is_control, tail_controls=3) == [0]
    assert block_starts([5, 6, 7], is_control, tail_controls=3) == [0]


def test_the_final_turns_fixed_header_is_a_block_of_its_own() -> None:
    tokens = [100, 5, 101, 100, 7, 8, 101, 100, 9]
    assert block_starts(tokens, is_control, tail_controls=3, header=[100, 7]) == [0, 2, 3, 5]
    # Another role's header (or none) leaves the turn whole.
    assert block_starts(tokens, is_control, tail_controls=3, header=[100, 6]) == [0, 2, 3]
    assert block_starts(tokens, is_control, header=[100, 7]) == [0, 2, 3, 6, 7]  # no merged turn: no split


def test_only_whole_blocks_inside_the_common_prefix_are_kept() -> None:
    previous = [100, 5, 6, 101, 7, 100, 8, 9]
    starts = [0, 3, 5]
    assert kept_prefix(previous, starts, [100, 5, 6, 101, 7, 100, 1, 2], starts) == 5
    other = [100, 5, 6, 101, 4, 100, 8, 9]
    assert kept_prefix(previous, starts, other, block_starts(other, is_control)) == 3
    assert kept_prefix(previous, starts, [100, 5, 9], [0]) == 0  # diverges inside the first block
    assert kept_prefix([], [], previous, starts) == 0
    # The same prompt again: the last block is evaluated anew (its logits start the answer).
    assert kept_prefix(previous, starts, previous, starts) == 5
    assert kept_prefix(previous, starts, previous[:5], [0, 3]) == 3


def test_a_block_the_previous_prompt_merged_is_not_kept() -> None:
    # opening [0, 2), end [2, 3), then the final turn [3, 7) in one block (user, end, assistant).
    previous = [100, 5, 101, 100, 7, 101, 100]
    previous_starts = block_starts(previous, is_control, tail_controls=3)
    assert previous_starts == [0, 2, 3]
    # A follow-up turn splits that stretch at 5 and 6: only blocks before 3 were computed alike.
    follow_up = previous + [8, 9, 101, 100, 4, 101, 100]
    starts = block_starts(follow_up, is_control, tail_controls=3)
    assert starts == [0, 2, 3, 5, 6, 9, 10]
    assert kept_prefix(previous, previous_starts, follow_up, starts) == 3


PROMPTS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": q}] for q in (
        "Why is the sky blue?", "Name three colours.", "What is 2 + 2?", "Why is the sky blue?",
        "Write a haiku about rain.", "What is the capital of France?", "Explain gravity briefly.",
        "List two prime numbers.", "What do bees make?", "Say hello.",
    )
] + [
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Colour of grass?"}],
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Colour of snow?"}],
    [{"role": "user", "content": "Hi"}],  # its final turn was one block; the follow-up splits it
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a fact."}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a joke."}],
    [{"role": "user", "content": "What is 2 + 2?"}],
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Colour of grass?"}],
]


def job(messages: list[dict[str, str]]) -> GenerateJob:
    return GenerateJob(messages=validate_messages(messages), prompt=None, max_tokens=8, temperature=0.0,
                       stop=(), seed=None, stop_at=None, speed=SpeedTracker().snapshot(), yield_flag=None,
                       on_text=None)


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[LlamaEngine, LlamaEngine]]:
    profile = resolve_model("smollm2")
    reusing, fresh = (LlamaEngine(profile, EngineOptions(n_threads=1, n_ctx=512)) for _ in range(2))
    fresh.reuse_prefix = False
    yield reusing, fresh
    reusing.close()
    fresh.close()


@pytest.mark.integration
def test_answers_are_byte_identical_with_and_without_prefix_reuse(
    engines: tuple[LlamaEngine, LlamaEngine],
) -> None:
    reusing, fresh = engines
    kept = 0
    for messages in PROMPTS:
        a, b = reusing.generate(job(messages)), fresh.generate(job(messages))
        assert (a.text, a.completion_tokens, a.finish_reason) == (b.text, b.completion_tokens, b.finish_reason)
        assert a.mean_logprob == b.mean_logprob  # exactly: the same logits, bit for bit
        assert a.prompt_tokens == b.prompt_tokens == b.prompt_evaluated
        kept += a.prompt_tokens - a.prompt_evaluated
    assert kept > 10 * len(PROMPTS)  # the template's opening was reused, not re-evaluated
    # Scoring in between starts from an empty cache and leaves nothing to reuse.
    reusing.score(ScoreJob(
        "Question: 2+2?\nAnswer:", (" 4", " 5"), None, SpeedTracker().snapshot()))
    after = reusing.generate(job(PROMPTS[0]))
    assert after.prompt_evaluated == after.prompt_tokens
    assert after.text == fresh.generate(job(PROMPTS[0])).text
