"""``stream=true`` on ``/v1/chat/completions``: the answer as ``chat.completion.chunk`` events.

The response starts at once with the assistant role, then one chunk per piece of text as it
arrives, then a last chunk with the real ``finish_reason``, ``usage``, the answering
``model`` and peermind's provenance, then ``data: [DONE]``. Transport, deadline and error
events: ``answer_stream``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from ..collab.answer import Answer
from ..json_types import JsonObject, JsonValue
from .answer_stream import AnswerStream, Ask, Payload, json_counts
from .openai_format import finish_reason, usage


class ChatChunks:
    """OpenAI's chat chunk shapes for one answer."""

    def __init__(self, *, model: str, max_tokens: int) -> None:
        self._max_tokens = max_tokens
        self._base: Payload = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                               "created": int(time.time()), "model": model}

    def _chunk(self, delta: JsonObject, finish: str | None = None, **extra: JsonValue) -> Payload:
        choice: JsonObject = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._base, "choices": [choice], **extra}

    def opening(self) -> list[Payload]:
        """The first SSE chunk: the assistant role with empty content, as OpenAI's stream begins."""
        return [self._chunk({"role": "assistant", "content": ""})]

    def piece(self, index: int, text: str) -> Payload:
        """One delta chunk carrying ``text`` as the peer generated it."""
        return self._chunk({"content": text})

    def finish(self, index: int, answer: Answer) -> Payload:
        """The last chunk of a choice: the true finish_reason, usage and the signed provenance."""
        return self._chunk({}, finish_reason(answer, self._max_tokens), model=answer.model, usage=json_counts(usage([answer])),
                           peermind=answer.provenance())

    def closing(self, answers: Sequence[Answer]) -> list[Payload]:
        """Nothing more: a chat stream has one choice and its usage rode on ``finish``."""
        return []


class ChatStream(AnswerStream):
    """The SSE response for one chat request."""

    def __init__(self, ask: Ask, *, mode: str, model: str, max_tokens: int, timeout_s: float) -> None:
        super().__init__([ask], ChatChunks(model=model, max_tokens=max_tokens), mode=mode, timeout_s=timeout_s)
