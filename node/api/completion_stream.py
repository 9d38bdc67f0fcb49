"""``stream=true`` on ``/v1/completions``: each prompt's answer as ``text_completion`` events.

One event per piece of text as it arrives (``choices[0].index`` names the prompt; several
prompts stream concurrently and interleave), then per prompt an event with empty text, its
real ``finish_reason``, the answering ``model`` and peermind's provenance. With one prompt
that event also carries ``usage``; with several, a last event with no choices carries the
total (OpenAI's ``include_usage`` shape). Then ``data: [DONE]``. Transport, deadline and
error events: ``answer_stream``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from ..collab.answer import Answer
from ..json_types import JsonObject, JsonValue
from .answer_stream import AnswerStream, Ask, Payload, json_counts
from .openai_format import finish_reason, usage


class CompletionChunks:
    """OpenAI's streamed ``text_completion`` shapes for ``prompts`` answers."""

    def __init__(self, *, prompts: int, model: str, max_tokens: int) -> None:
        self._prompts = prompts
        self._max_tokens = max_tokens
        self._base: Payload = {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion",
                               "created": int(time.time()), "model": model}

    def _event(self, index: int, text: str, finish: str | None = None, **extra: JsonValue) -> Payload:
        choice: JsonObject = {"index": index, "text": text, "logprobs": None, "finish_reason": finish}
        return {**self._base, "choices": [choice], **extra}

    def opening(self) -> list[Payload]:
        """Nothing: a completions stream starts with its first text event."""
        return []

    def piece(self, index: int, text: str) -> Payload:
        """One text event of prompt ``index``."""
        return self._event(index, text)

    def finish(self, index: int, answer: Answer) -> Payload:
        """The end of prompt ``index``: finish_reason and provenance (usage too when there is one prompt)."""
        extra: JsonObject = {"model": answer.model, "peermind": answer.provenance()}
        if self._prompts == 1:
            extra["usage"] = json_counts(usage([answer]))
        return self._event(index, "", finish_reason(answer, self._max_tokens), **extra)

    def closing(self, answers: Sequence[Answer]) -> list[Payload]:
        """With several prompts, one final event with the usage summed over all answers."""
        if self._prompts == 1:
            return []
        return [{**self._base, "choices": [], "usage": json_counts(usage(answers))}]


class CompletionStream(AnswerStream):
    """The SSE response for one completions request (one ask per prompt)."""

    def __init__(self, asks: Sequence[Ask], *, mode: str, model: str, max_tokens: int, timeout_s: float) -> None:
        super().__init__(asks, CompletionChunks(prompts=len(asks), model=model, max_tokens=max_tokens),
                         mode=mode, timeout_s=timeout_s)
