"""Real token streaming through real node processes: client -> node a -> libp2p -> node b's model.

Three daemons on loopback (the stock ``openai`` client and raw httpx against a's API): the
tokens of a remote peer's answer arrive as several SSE chunks, the first long before the
last, and add up to the answer the same question gets without streaming; a deciding mode
sends its chosen answer after deciding; a failure before any token and a peer killed in the
middle of its answer both end the stream with an ``error`` event, within the deadline.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from nodeproc import NodeCluster, NodeProc, wait_for

pytestmark = pytest.mark.integration

LONG_QUESTION = "Write a long story about a lighthouse keeper and a storm."


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProc, NodeProc, NodeProc]]:
    cluster = NodeCluster(Path(tmp_path_factory.mktemp("stream3")))
    try:
        a = cluster.start("a")
        b = cluster.spawn("b", bootstrap=a.addrs)
        c = cluster.spawn("c", bootstrap=a.addrs)
        b.wait_ready()
        c.wait_ready()
        wait_for(lambda: {b.peer_id, c.peer_id} <= a.peers(), timeout_s=60, what="a to hold b's and c's ads")
        yield a, b, c
    finally:
        cluster.stop_all()


def _client(node: NodeProc) -> openai.OpenAI:
    return openai.OpenAI(base_url=node.api_url + "/v1", api_key="unused", timeout=120, max_retries=0)


def _sse_events(response: httpx.Response, started: float) -> Iterator[tuple[float, str, str]]:
    """(seconds since ``started``, event name, data) for each server-sent event, as it arrives."""
    event, data = "message", ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif not line and data:
            yield time.perf_counter() - started, event, data
            event, data = "message", ""


def test_a_remote_peers_tokens_stream_through_the_asking_node(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, b, _c = net
    client = _client(a)
    question = [{"role": "user", "content": LONG_QUESTION}]
    started = time.perf_counter()
    arrivals: list[tuple[float, str]] = []
    last = None
    for chunk in client.chat.completions.create(model="auto", messages=question, max_tokens=64, stream=True,
                                                 extra_body={"peermind": {"mode": "route", "peer": b.peer_id}}):
        last = chunk
        content = chunk.choices[0].delta.content if chunk.choices else None
        if content:
            arrivals.append((time.perf_counter() - started, content))
    assert last is not None and last.choices[0].finish_reason in ("stop", "length")
    provenance = last.model_extra["peermind"]
    assert provenance["answered_by"] == b.peer_id and last.model == "smollm2"
    assert last.usage is not None and last.usage.completion_tokens > 16
    assert len(arrivals) >= 8
    first, final = arrivals[0][0], arrivals[-1][0]
    # tokens arrive over at least a third of the answer's time (a buffered answer arrives at once)
    assert final - first > final / 3, f"first token at {first:.2f}s, last at {final:.2f}s"

    streamed = "".join(text for _, text in arrivals)
    whole = client.chat.completions.create(model="auto", messages=question, max_tokens=64,
                                           extra_body={"peermind": {"mode": "route", "peer": b.peer_id}})
    assert streamed == whole.choices[0].message.content  # greedy, prompt evaluated afresh: same text
    assert a.metric("peermind_trust_evidence_total", kind="protocol_violation") == 0


def test_the_asking_nodes_own_model_streams_in_local_mode(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, _b, _c = net
    client = _client(a)
    question = [{"role": "user", "content": "Describe the sea in two sentences."}]
    chunks = list(client.chat.completions.create(model="auto", messages=question, max_tokens=32, stream=True,
                                                 extra_body={"peermind": {"mode": "local"}}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 5 and chunks[-1].model_extra["peermind"]["answered_by"] == a.peer_id
    whole = client.chat.completions.create(model="auto", messages=question, max_tokens=32,
                                           extra_body={"peermind": {"mode": "local"}})
    assert "".join(pieces) == whole.choices[0].message.content


def test_a_deciding_mode_streams_the_answer_it_chose(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, _b, _c = net
    pieces: list[str] = []
    last = None
    for chunk in _client(a).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=12, stream=True,
            extra_body={"peermind": {"mode": "vote", "k": 3}}):
        last = chunk
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    assert last is not None and last.model_extra["peermind"]["mode"] == "vote"
    assert len(pieces) == 1 and pieces[0].strip()


def test_a_failure_before_any_token_is_an_error_event(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, _b, _c = net
    with pytest.raises(openai.APIError) as caught:
        list(_client(a).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "Hi"}], max_tokens=8, stream=True,
            extra_body={"peermind": {"mode": "route", "peer": "12D3KooWNotAPeerAtAllxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}))
    assert "peer" in str(caught.value.message)


def test_a_peer_killed_mid_answer_ends_the_stream_with_an_error_event(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, _b, c = net
    body = {"model": "auto", "stream": True, "max_tokens": 400,
            "messages": [{"role": "user", "content": LONG_QUESTION}],
            "peermind": {"mode": "route", "peer": c.peer_id, "timeout_s": 60}}
    events: list[tuple[float, str, str]] = []
    started = time.perf_counter()
    killed_at = None
    with httpx.stream("POST", a.api_url + "/v1/chat/completions", json=body, timeout=90) as response:
        assert response.status_code == 200
        for at, event, data in _sse_events(response, started):
            events.append((at, event, data))
            content = json.loads(data)["choices"][0]["delta"].get("content") if event == "message" else None
            if content and killed_at is None:
                c.send(signal.SIGKILL)  # the answering peer dies in the middle of its answer
                killed_at = at
    assert killed_at is not None, "no token arrived before the kill"
    at, event, data = events[-1]
    assert event == "error", events[-3:]
    error = json.loads(data)["error"]
    assert error["message"] and error["type"]
    assert at - killed_at < 15, f"the error came {at - killed_at:.1f}s after the kill"
    assert all(e != "[DONE]" for _, _, e in events)
