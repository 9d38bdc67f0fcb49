"""Answers as server-sent events while they are generated: what both OpenAI streams share.

``AnswerStream`` runs one or more asks (one per prompt) inside the response, sends each
piece of text as it arrives from the answering peer (or this node's own model), then each
answer's finishing event, then ``data: [DONE]``; the event shapes come from a
``ChunkFormat`` (chat: ``chat_stream``, completions: ``completion_stream``). Which modes
stream live and which send their chosen answer once decided: ``collab.streaming``.

Failure after the headers went out (every peer failed, the answering peer died mid-answer,
the deadline passed) ends the stream with an ``event: error`` whose data is OpenAI's error
object, and no ``[DONE]``: the ``openai`` client raises ``APIError`` with the message. The
whole request is bounded by its ``timeout_s`` plus a short grace, so a client is never left
waiting on a peer that stopped talking; a client that disconnects cancels the work.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import trio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..collab.answer import Answer
from ..collab.streaming import stream_answer
from ..errors import NodeError
from ..json_types import JsonObject

GRACE_S = 2.0
"""Beyond the request's own timeout, for the collaboration layer to report its own error first."""

Ask = Callable[[], Awaitable[Answer]]
Payload = JsonObject
"""One JSON event of a stream."""


class ChunkFormat(Protocol):
    """The JSON events of one kind of stream, in the order they are sent."""

    def opening(self) -> list[Payload]:
        """Sent before any text (e.g. chat's assistant role)."""
        ...

    def piece(self, index: int, text: str) -> Payload:
        """A piece of the answer to prompt ``index``."""
        ...

    def finish(self, index: int, answer: Answer) -> Payload:
        """Prompt ``index`` is answered: its real finish_reason, model and provenance."""
        ...

    def closing(self, answers: Sequence[Answer]) -> list[Payload]:
        """Sent after every answer finished, before ``[DONE]``."""
        ...


def json_counts(counts: dict[str, int]) -> JsonObject:
    """Token counts (``openai_format.usage``) as a JSON object for an event."""
    return {name: count for name, count in counts.items()}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def sse_data(payload: Payload, event: str | None = None) -> bytes:
    """One server-sent event; compact JSON has no newline, so one ``data:`` line holds it."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def error_event(kind: str, message: str) -> bytes:
    """The ``event: error`` that ends a failed stream, with OpenAI's error object (the client raises it)."""
    return sse_data({"error": {"message": message, "type": kind, "code": kind}}, event="error")


class AnswerStream(Response):
    """An SSE response whose body is produced while it is sent, inside one nursery."""

    media_type = "text/event-stream"

    def __init__(self, asks: Sequence[Ask], chunks: ChunkFormat, *, mode: str, timeout_s: float) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({"cache-control": "no-cache", "x-accel-buffering": "no"})
        self._asks = list(asks)
        self._chunks = chunks
        self._mode = mode
        self._limit_s = timeout_s + GRACE_S

    async def _answer(self, index: int, ask: Ask, frames: trio.MemorySendChannel[bytes]) -> Answer:
        async def sink(text: str) -> None:
            if text:
                await frames.send(sse_data(self._chunks.piece(index, text)))

        answer = await stream_answer(ask, sink, mode=self._mode)
        await frames.send(sse_data(self._chunks.finish(index, answer)))
        return answer

    async def _answer_all(self, frames: trio.MemorySendChannel[bytes]) -> list[Answer]:
        """Every prompt's answer, streamed concurrently; the first failure cancels the rest and is raised."""
        answers: list[Answer | None] = [None] * len(self._asks)
        failures: list[NodeError] = []

        async def one(index: int, ask: Ask, scope: trio.CancelScope) -> None:
            try:
                answers[index] = await self._answer(index, ask, frames)
            except NodeError as exc:
                failures.append(exc)
                scope.cancel()

        async with trio.open_nursery() as nursery:
            for index, ask in enumerate(self._asks):
                nursery.start_soon(one, index, ask, nursery.cancel_scope)
        if failures:
            raise failures[0]
        return [a for a in answers if a is not None]

    async def _produce(self, frames: trio.MemorySendChannel[bytes]) -> None:
        async with frames:
            for payload in self._chunks.opening():
                await frames.send(sse_data(payload))
            try:
                with trio.fail_after(self._limit_s):
                    answers = await self._answer_all(frames)
            except trio.TooSlowError:
                await frames.send(error_event("deadline_exceeded", f"no complete answer within {self._limit_s:.0f} s"))
                return
            except NodeError as exc:
                await frames.send(error_event(_snake(type(exc).__name__), str(exc)))
                return
            for payload in self._chunks.closing(answers):
                await frames.send(sse_data(payload))
            await frames.send(b"data: [DONE]\n\n")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        frames_in, frames_out = trio.open_memory_channel[bytes](math.inf)
        gone = False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._produce, frames_in)

            async def watch_disconnect() -> None:
                nonlocal gone
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone = True
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_disconnect)
            try:
                async with frames_out:
                    async for frame in frames_out:
                        await send({"type": "http.response.body", "body": frame, "more_body": True})
            except OSError:  # the client went away while we wrote
                gone = True
            nursery.cancel_scope.cancel()
        if not gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
