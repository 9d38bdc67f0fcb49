"""The SSE side of streaming and the mode rules, with small fake answerers (no model, no network).

The real-process version is test_streaming_network.py; this one pins the exact event format,
what each mode sends when, and the deadline and error paths, which a real network makes slow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import pytest
import trio
from peermind.node.api.app import TokenAuth
from peermind.node.api.chat_stream import ChatStream
from peermind.node.api.completion_stream import CompletionStream
from peermind.node.collab.answer import Answer
from peermind.node.collab.errors import AllCandidatesFailed
from peermind.node.collab.streaming import StreamDiverged, stream_answer
from peermind.node.p2p.live import current_live, defer_live_text, streaming_to
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient


def _answer(text: str, **kw: object) -> Answer:
    fields: dict[str, object] = {"mode": "route", "answered_by": "12D3KooWpeer", "model": "smollm2", "confidence": -0.1,
                                 "cost": 0.0, "latency_ms": 1.0, "completion_tokens": 3, "prompt_tokens": 5,
                                 "finish_reason": "length"} | kw
    return Answer(text=text, **fields)  # type: ignore[arg-type]


def generating(pieces: list[str], *, defer: bool = False) -> Callable[[], Awaitable[Answer]]:
    """An answerer that generates in this task, streaming into the live sink when it may."""
    async def ask() -> Answer:
        if defer:
            defer_live_text()
        live = current_live()
        claim = live.claim() if live is not None else None
        for piece in pieces:
            await trio.sleep(0.01)
            if claim is not None:
                await claim.emit(piece)
        if claim is not None:
            with claim:
                pass
        return _answer("".join(pieces))
    return ask


async def _collect(ask: Callable[[], Awaitable[Answer]], mode: str) -> list[str]:
    got: list[str] = []

    async def sink(text: str) -> None:
        got.append(text)

    await stream_answer(ask, sink, mode=mode)
    return got


@pytest.mark.parametrize(("mode", "defer", "expected"), [
    ("route", False, ["The", " sea", " is", " deep."]),
    ("auto", False, ["The", " sea", " is", " deep."]),
    ("auto", True, ["The sea is deep."]),  # auto with predictions may escalate: waits for the decision
    ("vote", False, ["The sea is deep."]),
    ("cascade", False, ["The sea is deep."]),
])
async def test_what_each_mode_streams(mode: str, defer: bool, expected: list[str]) -> None:
    assert await _collect(generating(["The", " sea", " is", " deep."], defer=defer), mode) == expected


async def test_a_final_answer_that_contradicts_the_streamed_text_is_an_error() -> None:
    async def ask() -> Answer:
        live = current_live()
        claim = live.claim() if live is not None else None
        assert claim is not None
        with claim:
            await claim.emit("Paris")
        return _answer("Rome")  # e.g. escalated after streaming

    with pytest.raises(StreamDiverged):
        await _collect(ask, "auto")


def _app(ask: Callable[[], Awaitable[Answer]], timeout_s: float = 10.0, token: str | None = None,
         completions: list[Callable[[], Awaitable[Answer]]] | None = None) -> Starlette:
    """A chat stream of ``ask``, or with ``completions`` a completions stream of those asks (one per prompt)."""
    async def chat(_: Request) -> Response:
        if completions is not None:
            return CompletionStream(completions, mode="route", model="auto", max_tokens=3, timeout_s=timeout_s)
        return ChatStream(ask, mode="route", model="auto", max_tokens=3, timeout_s=timeout_s)

    return Starlette(routes=[Route("/chat", chat, methods=["POST"])],
                     middleware=[Middleware(TokenAuth, token=token)])  # as the node's API has it


def _events(app: Starlette, headers: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with TestClient(app, backend="trio") as client, client.stream("POST", "/chat", headers=headers) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines.get("event", "message"), lines["data"]))
    return events


def test_the_sse_format_is_openais_chunk_stream_with_provenance_last() -> None:
    events = _events(_app(generating(["Hel", "lo", "!"])))
    assert events[-1] == ("message", "[DONE]")
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]] == ["Hel", "lo", "!"]
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "length" and last["model"] == "smollm2"
    assert last["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert last["peermind"]["answered_by"] == "12D3KooWpeer"
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and chunks[0]["object"] == "chat.completion.chunk"


def test_a_completion_streams_text_pieces_then_its_real_finish_and_usage() -> None:
    events = _events(_app(generating([]), completions=[generating(["Hel", "lo", "!"])]))
    assert events[-1] == ("message", "[DONE]")
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert [c["choices"][0]["text"] for c in chunks] == ["Hel", "lo", "!", ""]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "length"]
    last = chunks[-1]
    assert last["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert last["model"] == "smollm2" and last["peermind"]["answered_by"] == "12D3KooWpeer"
    assert {c["object"] for c in chunks} == {"text_completion"} and len({c["id"] for c in chunks}) == 1


def test_one_failed_prompt_ends_a_completion_stream_with_an_error_event() -> None:
    async def fails() -> Answer:
        await trio.sleep(0.05)
        raise AllCandidatesFailed("no candidate answered (peer: failed)")

    events = _events(_app(generating([]), completions=[generating(["a", "b", "c", "d", "e", "f"]), fails]))
    assert events[-1][0] == "error" and all(d != "[DONE]" for _, d in events)
    assert json.loads(events[-1][1])["error"]["type"] == "all_candidates_failed"


def test_streams_pass_the_token_check_unchanged() -> None:
    events = _events(_app(generating(["Hel", "lo"]), token="s3cret"), headers={"authorization": "Bearer s3cret"})
    assert events[-1] == ("message", "[DONE]") and len(events) == 5


def test_a_collaboration_error_ends_the_stream_with_an_error_event() -> None:
    async def ask() -> Answer:
        raise AllCandidatesFailed("no candidate answered (peer: failed)")

    events = _events(_app(ask))
    assert events[-1][0] == "error" and all(d != "[DONE]" for _, d in events)
    assert json.loads(events[-1][1])["error"] == {"message": "no candidate answered (peer: failed)",
                                                  "type": "all_candidates_failed", "code": "all_candidates_failed"}


def test_a_silent_answerer_cannot_hold_the_client_past_its_deadline() -> None:
    async def ask() -> Answer:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    started = time.perf_counter()
    events = _events(_app(ask, timeout_s=0.2))
    assert time.perf_counter() - started < 10
    assert events[-1][0] == "error" and json.loads(events[-1][1])["error"]["type"] == "deadline_exceeded"


async def test_only_the_task_that_opened_the_sink_can_stream_into_it() -> None:
    async def sink(_text: str) -> None:
        raise AssertionError("nothing may stream here")

    claims: list[object] = []

    async def other_task() -> None:  # e.g. a vote's parallel ask, or a check run after the answer
        live = current_live()
        claims.append(live.claim() if live is not None else "no sink")

    with streaming_to(sink):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(other_task)
    assert claims == [None]
