"""``stream=true`` on ``/v1/chat/completions``: the answer as server-sent events, token by token.

The response starts at once with the assistant role, then one ``chat.completion.chunk`` per
piece of text as it arrives from the answering peer (or this node's own model), then a last
chunk with the real ``finish_reason``, ``usage``, the answering ``model`` and peermind's
provenance, then ``data: [DONE]``. Which modes stream live and which send their chosen
answer once decided: ``collab.streaming``.

Failure after the headers went out (every peer failed, the answering peer died mid-answer,
the deadline passed) ends the stream with an ``event: error`` whose data is OpenAI's error
object, and no ``[DONE]``: the ``openai`` client raises ``APIError`` with the message. The
whole request is bounded by its ``timeout_s`` plus a short grace, so a client is never left
waiting on a peer that stopped talking; a client that disconnects cancels the work.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..collab.answer import Answer
from ..collab.streaming import stream_answer
from ..errors import NodeError
from .openai_format import finish_reason, usage

GRACE_S = 2.0
"""Beyond the request's own timeout, for the collaboration layer to report its own error first."""


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def sse_data(payload: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


class ChatStream(Response):
    """An SSE response whose body is produced while it is sent, inside one nursery."""

    media_type = "text/event-stream"

    def __init__(self, ask: Callable[[], Awaitable[Answer]], *, mode: str, model: str, max_tokens: int,
                 timeout_s: float) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({"cache-control": "no-cache", "x-accel-buffering": "no"})
        self._ask = ask
        self._mode = mode
        self._max_tokens = max_tokens
        self._limit_s = timeout_s + GRACE_S
        self._base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                      "created": int(time.time()), "model": model}

    def _chunk(self, delta: dict[str, str], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse_data(self._base | {"choices": [choice]} | extra)

    async def _produce(self, frames: trio.MemorySendChannel[bytes]) -> None:
        async with frames:
            async def sink(text: str) -> None:
                if text:
                    await frames.send(self._chunk({"content": text}))

            await frames.send(self._chunk({"role": "assistant", "content": ""}))
            try:
                with trio.fail_after(self._limit_s):
                    answer = await stream_answer(self._ask, sink, mode=self._mode)
            except trio.TooSlowError:
                await frames.send(_error_frame("deadline_exceeded",
                                               f"no complete answer within {self._limit_s:.0f} s"))
                return
            except NodeError as exc:
                await frames.send(_error_frame(_snake(type(exc).__name__), str(exc)))
                return
            await frames.send(self._chunk({}, finish_reason(answer, self._max_tokens), model=answer.model,
                                          usage=usage([answer]), peermind=answer.provenance()))
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


def _error_frame(kind: str, message: str) -> bytes:
    return sse_data({"error": {"message": message, "type": kind, "code": kind}}, event="error")
