"""Streamed task replies between two real libp2p hosts in this process, one with a real model.

The worker is a real ``TaskService`` on SmolLM2; the requester uses the real task client.
A dishonest worker (a raw endpoint) sends chunks that do not add up to its signed result:
that must be a typed ``BadReply`` and protocol-violation evidence, never a silent answer.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import trio
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import create_new_key_pair
from peermind.node.llm import LlamaBackend, resolve_model
from peermind.node.p2p.host import dial, full_addrs, parse_peer_addr, running_host
from peermind.node.p2p.live import StreamBroken, streaming_to
from peermind.node.p2p.streams import BadReply, PartSender, StreamedReply, StreamEndpoint
from peermind.node.p2p.tasks import TASK_PROTOCOL, ServedTask, TaskLimits, TaskService, make_request
from peermind.protocol import (
    ChatMessage,
    Envelope,
    Message,
    Signer,
    TaskChunk,
    TaskRefusal,
    TaskRequest,
    TaskResult,
    Verifier,
)
from peermind.trust import EvidenceEvent

pytestmark = pytest.mark.integration

QUESTION = [ChatMessage(role="user", content="Write three sentences about the sea.")]


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaBackend]:
    loaded = trio.run(functools.partial(LlamaBackend.load, resolve_model("smollm2"), n_threads=1))
    yield loaded
    trio.run(loaded.aclose)


@dataclass
class Side:
    host: IHost
    tasks: TaskService
    evidence: list[EvidenceEvent]


def _endpoint(host: IHost, signer: Signer, evidence: list[EvidenceEvent]) -> StreamEndpoint:
    return StreamEndpoint(host, TASK_PROTOCOL, signer, Verifier(), max_frame_bytes=4 << 20,
                          read_timeout_s=30, on_evidence=evidence.append)


@asynccontextmanager
async def _side(backend: LlamaBackend, served: list[ServedTask] | None = None) -> AsyncIterator[Side]:
    keys = create_new_key_pair()
    async with running_host(keys, ["/ip4/127.0.0.1/tcp/0"]) as host:
        evidence: list[EvidenceEvent] = []
        tasks = TaskService(backend, TaskLimits(max_prompt_chars=10_000, max_tokens=512),
                            on_served=(served if served is not None else []).append)
        tasks.attach(_endpoint(host, Signer.from_libp2p(keys.private_key), evidence))
        yield Side(host, tasks, evidence)


async def _connect(asker: Side, worker_host: IHost) -> None:
    await dial(asker.host, parse_peer_addr(full_addrs(worker_host)[0]))


async def test_tokens_arrive_as_signed_chunks_before_the_result(backend: LlamaBackend) -> None:
    async with _side(backend) as worker, _side(backend) as asker:
        await _connect(asker, worker.host)
        arrivals: list[tuple[float, str]] = []
        started = time.perf_counter()

        async def on_text(text: str) -> None:
            arrivals.append((time.perf_counter() - started, text))

        req = make_request(messages=QUESTION, max_tokens=48, timeout_s=60)
        result = await asker.tasks.request_stream(worker.host.get_id(), req, on_text)
        total = time.perf_counter() - started
        assert len(arrivals) >= 5
        assert "".join(t for _, t in arrivals) == result.text
        assert arrivals[0][0] < total / 2
        assert asker.evidence == []


async def test_a_requester_that_leaves_mid_stream_frees_the_worker(backend: LlamaBackend) -> None:
    served: list[ServedTask] = []
    async with _side(backend, served) as worker, _side(backend) as asker:
        await _connect(asker, worker.host)
        with trio.CancelScope() as scope:
            async def on_text(_text: str) -> None:
                scope.cancel()  # the client went away after the first piece

            await asker.tasks.request_stream(worker.host.get_id(), make_request(
                prompt="1, 2, 3, 4, 5, 6, 7,", max_tokens=500, timeout_s=120), on_text)
        with trio.fail_after(60):
            while not served:  # noqa: ASYNC110 - the worker records the task once it stopped
                await trio.sleep(0.05)
        reply = served[0].reply
        assert isinstance(reply, TaskRefusal) and reply.reason == "internal"
        assert "stopped reading" in reply.detail
        assert backend.queue_depth == 0


async def test_a_requester_that_does_not_ask_gets_one_plain_result(backend: LlamaBackend) -> None:
    async with _side(backend) as worker, _side(backend) as asker:
        await _connect(asker, worker.host)
        assert asker.tasks.endpoint is not None
        req = make_request(messages=QUESTION, max_tokens=16, timeout_s=60)
        envelope = await asker.tasks.endpoint.call(worker.host.get_id(), req, timeout_s=60)
        assert isinstance(envelope.body, TaskResult) and envelope.body.text  # no chunk came first


async def test_the_live_sink_receives_a_request_made_under_it(backend: LlamaBackend) -> None:
    async with _side(backend) as worker, _side(backend) as asker:
        await _connect(asker, worker.host)
        pieces: list[str] = []

        async def sink(text: str) -> None:
            pieces.append(text)

        with streaming_to(sink) as live:
            result = await asker.tasks.request(worker.host.get_id(),
                                               make_request(messages=QUESTION, max_tokens=24, timeout_s=60))
            assert live.sealed
            # sealed: a second generation in the same request does not stream into it
            local = await asker.tasks.execute(make_request(prompt="Hi", max_tokens=4, timeout_s=60))
        assert isinstance(local, TaskResult)
        assert len(pieces) > 1 and "".join(pieces) == result.text == live.text


async def _lying_worker(host: IHost, signer: Signer, texts: list[str], final: str) -> None:
    endpoint = _endpoint(host, signer, [])

    async def handle(envelope: Envelope, _peer: str) -> StreamedReply:
        req = envelope.body
        assert isinstance(req, TaskRequest) and req.stream

        async def produce(send_part: PartSender) -> Message:
            for seq, text in enumerate(texts):
                await send_part(TaskChunk(task_id=req.task_id, seq=seq, text=text))
            return TaskResult(task_id=req.task_id, text=final)

        return StreamedReply(produce)

    endpoint.serve(handle)


@pytest.mark.parametrize(("texts", "final"), [(["Par", "is"], "Rome"), (["Par", "is"] * 20, "Paris" * 20)])
async def test_chunks_that_contradict_the_signed_result_are_a_violation(
        backend: LlamaBackend, texts: list[str], final: str) -> None:
    keys = create_new_key_pair()
    async with running_host(keys, ["/ip4/127.0.0.1/tcp/0"]) as liar_host, _side(backend) as asker:
        await _lying_worker(liar_host, Signer.from_libp2p(keys.private_key), texts, final)
        await _connect(asker, liar_host)
        got: list[str] = []

        async def sink(text: str) -> None:
            got.append(text)

        with streaming_to(sink) as live:
            with pytest.raises(BadReply):  # the second case: more chunks than max_tokens + 1
                await asker.tasks.request(liar_host.get_id(), make_request(prompt="x", max_tokens=8, timeout_s=20))
            with pytest.raises(StreamBroken):  # text reached the client: no fallback may continue it
                await asker.tasks.execute(make_request(prompt="x", max_tokens=4, timeout_s=20))
        assert live.broken and got
        assert [e.kind for e in asker.evidence] == ["protocol_violation"]
        assert "Chunk" in asker.evidence[0].detail


async def test_a_full_backend_refuses_a_streamed_task_as_a_plain_one() -> None:
    small = await LlamaBackend.load(resolve_model("smollm2"), n_threads=1, max_queue=1)
    try:
        tasks = TaskService(small, TaskLimits(max_prompt_chars=10_000, max_tokens=512))
        got: list[str] = []

        async def sink(text: str) -> None:
            got.append(text)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(small.generate, prompt="1, 2, 3,", max_tokens=64))
            while small.queue_depth == 0:  # noqa: ASYNC110 - waits for the first generation to start
                await trio.sleep(0.005)
            with streaming_to(sink) as live:
                reply = await tasks.execute(make_request(messages=QUESTION, max_tokens=8, timeout_s=60))
                assert isinstance(reply, TaskRefusal) and reply.reason == "busy"
                assert not live.broken and live.claim() is not None  # nothing streamed: others may still answer
        assert got == []
    finally:
        await small.aclose()
