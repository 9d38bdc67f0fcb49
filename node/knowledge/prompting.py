"""Put retrieved passages (or peers' evidence) in front of a question.

One rule for both sides: the knowledge peer grounds the task it serves, and the
``consult`` mode grounds the job the asking node answers. Chat turns get the context in
a leading system turn (small chat models follow it there); raw prompts and score
prompts get it as a block before the question, so multiple-choice scoring reads the
passages first and the answer choices still follow the question directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from peermind.protocol import ChatMessage

CONTEXT_HEADER = "Use these passages if they help:"


def context_block(passages: Sequence[str]) -> str:
    """The passages as one bulleted block under ``CONTEXT_HEADER``, ready to precede a question."""
    return CONTEXT_HEADER + "\n" + "\n".join(f"- {p}" for p in passages) + "\n\n"


def grounded(messages: Sequence[ChatMessage], prompt: str, passages: Sequence[str]
             ) -> tuple[tuple[ChatMessage, ...], str]:
    """(messages, prompt) with ``passages`` put before the question; unchanged when there are none."""
    if not passages:
        return tuple(messages), prompt
    block = context_block(passages)
    if messages:
        return (ChatMessage(role="system", content=block.strip()), *messages), prompt
    return (), block + prompt
