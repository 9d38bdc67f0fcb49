"""Which part of a prompt's KV cache can be kept from the previous prompt, without changing answers.

llama.cpp's logits depend (slightly: ~0.03 nats on Gemma-3) on how a sequence is split
into decode batches, so keeping "whatever prefix matches", as llama-cpp-python does,
would make an answer depend on what ran before, and peers that re-run a question to
verify an answer need the same input to give the same output. Here a prompt is always
evaluated in the same blocks, a function of its own tokens: a block starts at every
control token (chat templates put one at every message boundary, so the template's
fixed opening ends a block), except that the prompt's last turn (the final message and
the template's generation prompt: ``tail_controls`` control tokens, counted once per
template) is one block. That last turn is what differs from one request to the next,
and each decode call has a fixed cost, so it is evaluated in one batch, as a bare
llama.cpp call evaluates what follows its cached prefix; the turn's fixed header (the
role marker the template puts before the message) is a block of its own, so it is kept
too.

A prefix is kept only in whole blocks that both the previous prompt and this one
have, and the rest is evaluated block by block exactly as from an empty cache, so the
same numbers come out either way (tests/node/test_llm_prefix_reuse.py checks it byte
for byte over many prompts). A model without control tokens in its prompts (the
question/answer format) has one block: nothing is kept, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def block_starts(
    tokens: Sequence[int], is_control: Callable[[int], bool], tail_controls: int = 1,
    header: Sequence[int] = (),
) -> list[int]:
    """Positions where evaluation blocks begin: 0 and every later control token, except that
    the last ``tail_controls`` control tokens (the final turn) share one block, the first of them.

    When the final turn opens with the template's fixed ``header`` (``<|im_start|>user\n``),
    the header is a block of its own, so only the message's text and what follows it are
    left to evaluate in a request that shares everything else with the previous one.
    """
    controls = [i for i in range(1, len(tokens)) if is_control(tokens[i])]
    merged = max(tail_controls - 1, 0)
    starts = [0] + controls[: max(len(controls) - merged, 0)]
    turn = starts[-1]
    if (merged and header and len(controls) >= tail_controls
            and list(tokens[turn : turn + len(header)]) == list(header) and turn + len(header) < len(tokens)):
        starts.append(turn + len(header))
    return starts


def kept_prefix(
    previous: Sequence[int], previous_starts: Sequence[int], tokens: Sequence[int], starts: Sequence[int]
) -> int:
    """How many leading tokens of ``tokens`` to keep from ``previous`` (both block-evaluated).

    The largest position that starts a block of both prompts, lies inside their common
    prefix and leaves at least one token to evaluate (the next token's logits must come
    from a live decode). Blocks before a start both prompts share are the same blocks,
    since both split at the same control tokens and merge only a suffix of them.
    """
    common = 0
    for a, b in zip(previous, tokens, strict=False):
        if a != b:
            break
        common += 1
    limit = min(common, len(tokens) - 1)
    shared = set(previous_starts)
    return max((s for s in starts if s <= limit and s in shared), default=0)


def blocks(starts: Sequence[int], keep: int, length: int) -> list[tuple[int, int]]:
    """The (start, end) blocks still to evaluate after keeping ``keep`` tokens."""
    bounds = [s for s in starts if s >= keep] + [length]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
