"""The task protocol (``/peermind/task/1.0.0``): run a generation or scoring job for a peer.

The same ``execute`` serves local and remote requests, so an answer carries the same
fields (tokens, latency, confidence) whichever peer produced it. Limits and deadlines
are enforced on both sides: the requester stops waiting at its deadline, the server
refuses work it cannot finish in time and clips what it can.

Streaming: a request with ``stream`` set is answered with signed ``task.chunk`` frames as
the tokens are generated, then the usual result, which the requester checks against the
chunks (``ChunkAssembler``). ``request`` and ``execute`` stream on their own into the
request's live sink when one is open (``live.streaming_to``); ``request_stream`` is the
explicit form.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import trio
from libp2p.peer.id import ID
from peermind.protocol import (
    MAX_CHUNK_TEXT,
    ChatMessage,
    ChunkAssembler,
    Envelope,
    Message,
    SchemaError,
    TaskChunk,
    TaskRefusal,
    TaskRequest,
    TaskResult,
    truncate_utf8,
)
from peermind.protocol import ContinuationScore as WireScore

from ..errors import NodeError
from ..llm import (
    PRIORITY_OWN,
    BackendBusy,
    DeadlineUnmeetable,
    Generation,
    LlamaBackend,
    LLMError,
    PromptTooLong,
    open_delta_channel,
    receive_pending,
)
from .live import TextSink, current_live
from .streams import (
    BadReply,
    PartSender,
    RequesterGone,
    StreamedReply,
    StreamEndpoint,
    UnexpectedMessage,
)

log = logging.getLogger("peermind.node.tasks")

TASK_PROTOCOL = "/peermind/task/1.0.0"


class TaskRefused(NodeError):
    """A peer declined the task; ``reason`` is the refusal's machine-readable cause."""

    def __init__(self, peer: str, refusal: TaskRefusal) -> None:
        super().__init__(f"{peer} refused the task ({refusal.reason}): {refusal.detail}")
        self.peer = peer
        self.reason = refusal.reason
        self.retry_after_ms = refusal.retry_after_ms


@dataclass(frozen=True)
class TaskLimits:
    """What this node serves at most: prompt size and answer length (larger requests are refused)."""

    max_prompt_chars: int
    max_tokens: int


@dataclass(frozen=True)
class ServedTask:
    """What the server learned from one task (for the task log and metrics)."""

    peer: str
    request: TaskRequest
    reply: TaskResult | TaskRefusal
    started_at: float


PEER_PRIORITY = 1
"""Queue priority of a peer's task when the node gives no other (its own work is PRIORITY_OWN)."""


def now_ms() -> int:
    """Wall-clock milliseconds, the unit of envelope timestamps and deadlines."""
    return int(time.time() * 1000)


def new_task_id() -> bytes:
    """A fresh random 16-byte task id (replies and verdicts name the task by it)."""
    return os.urandom(16)


def make_request(
    *,
    kind: str = "generate",
    messages: Sequence[ChatMessage] = (),
    prompt: str = "",
    continuations: list[str] | None = None,
    max_tokens: int = 128,
    temperature: float = 0.0,
    timeout_s: float = 60.0,
    model: str = "",
) -> TaskRequest:
    """A ``TaskRequest`` with a fresh id and an absolute deadline ``timeout_s`` from now."""
    return TaskRequest(
        task_id=new_task_id(),
        kind=kind,
        messages=list(messages),
        prompt=prompt,
        continuations=list(continuations or []),
        max_tokens=max_tokens,
        temperature=temperature,
        deadline_ms=now_ms() + int(timeout_s * 1000),
        model=model,
    )


class Grounder(Protocol):
    """Retrieval for a knowledge peer (``node.knowledge.KnowledgeService``)."""

    async def ground(self, req: TaskRequest) -> GroundedTask | None:
        """The request with passages in its prompt, or None when nothing relevant is indexed."""


class GroundedTask(Protocol):
    """A grounded request (``request`` goes to the model) and how its result cites the passages."""

    @property
    def request(self) -> TaskRequest:
        """The task with passages in its prompt (read-only: a grounded task is a frozen value)."""

    def finish(self, result: TaskResult) -> TaskResult:
        """``result`` with the citations (and passages, where shared) the grounding owes it."""


class TaskService:
    """Executes tasks on the local backend and calls peers' task protocol."""

    def __init__(
        self,
        backend: LlamaBackend,
        limits: TaskLimits,
        *,
        on_served: Callable[[ServedTask], None] = lambda _t: None,
        gate: Callable[[str], TaskRefusal | None] = lambda _peer: None,
        admit: Callable[[str], TaskRefusal | None] = lambda _peer: None,
        release: Callable[[str], None] = lambda _peer: None,
        priority: Callable[[str], tuple[int, bool]] = lambda _peer: (PEER_PRIORITY, False),
        turn_away: Callable[[str], bool] | None = None,
        hold_away: Callable[[str], Awaitable[None]] | None = None,
        grounder: Grounder | None = None,
        wait_admitted: Callable[[str], Awaitable[None]] | None = None,
        charge: Callable[[str, TaskRequest], TaskRefusal | None] = lambda _peer, _req: None,
        settle: Callable[[TaskRequest, TaskResult | TaskRefusal | None], None] = lambda _req, _reply: None,
    ) -> None:
        """``gate`` refuses a peer outright (bans, rates); ``admit``/``release`` bracket each task
        that passes it, so a per-peer concurrency share is released even when the task fails;
        ``priority(peer)`` is the (queue priority, preemptible) of the peer's tasks on the model;
        ``turn_away(peer)`` True drops its streams unread, after ``hold_away(peer)`` returns (see
        ``StreamEndpoint.serve``);
        ``grounder`` (a knowledge peer's corpus) puts retrieved passages into each task's prompt
        and its citations into the result; ``wait_admitted(peer)`` gives a requester whose ad has
        not arrived yet a moment for it before ``gate`` judges its membership; ``charge(peer, req)``
        takes a task's work (tokens) from the peer's allowance or refuses it, and ``settle(req,
        reply)`` gives back what it did not use (reply None: it never ran)."""
        self._backend = backend
        self._limits = limits
        self._on_served = on_served
        self._gate = gate
        self._admit = admit
        self._release = release
        self._priority = priority
        self._turn_away = turn_away
        self._hold_away = hold_away
        self.grounder = grounder
        self._wait_admitted = wait_admitted
        self._charge = charge
        self._settle = settle
        self.endpoint: StreamEndpoint | None = None
        self._started: dict[bytes, float] = {}

    def attach(self, endpoint: StreamEndpoint) -> None:
        """Serve the task protocol on ``endpoint`` (and call peers through it)."""
        self.endpoint = endpoint
        endpoint.serve(self._handle, after_reply=self._after_reply, turn_away=self._turn_away,
                       hold_away=self._hold_away)

    async def _handle(self, envelope: Envelope, peer: str) -> Message | StreamedReply | None:
        body = envelope.body
        if not isinstance(body, TaskRequest):
            raise UnexpectedMessage(f"unexpected {envelope.msg_type} on the task protocol")
        if self._wait_admitted is not None:
            await self._wait_admitted(peer)
        refusal = self._gate(peer) or self._charge(peer, body)
        if refusal is None:
            refusal = self._admit(peer)
            if refusal is not None:
                self._settle(body, None)
        if refusal is not None:
            return _refusal_for(body, refusal)
        if body.stream and body.kind == "generate":
            return StreamedReply(lambda send_part: self._serve(body, peer, send_part))
        return await self._serve(body, peer, None)

    async def _serve(self, req: TaskRequest, peer: str, send_part: PartSender | None) -> TaskResult | TaskRefusal:
        """Run an admitted peer task (its chunks go to ``send_part``, when it asked for them)."""
        started = time.time()
        priority, preemptible = self._priority(peer)
        on_text = _chunk_sender(req.task_id, send_part) if send_part is not None else None
        try:
            reply = await self._run(req, priority=priority, preemptible=preemptible, on_text=on_text)
        except RequesterGone as exc:
            log.info("requester left a streamed task", extra={"peer": peer})
            reply = _refuse(req, "internal", str(exc))
        except BaseException:
            self._settle(req, None)
            raise
        finally:
            self._release(peer)
        self._settle(req, reply)
        self._started[req.task_id] = started
        return reply

    def _after_reply(self, envelope: Envelope, peer: str, reply: Message | None) -> None:
        """Record a served task once its reply is sent (gate refusals never ran: not recorded)."""
        body = envelope.body
        if not isinstance(body, TaskRequest) or not isinstance(reply, TaskResult | TaskRefusal):
            return
        started = self._started.pop(body.task_id, None)
        if started is None:  # refused by the gate before it ran: not a served task
            return
        self._on_served(ServedTask(peer, body, reply, started))

    async def execute(self, req: TaskRequest, *, priority: int = PRIORITY_OWN,
                      preemptible: bool = False) -> TaskResult | TaskRefusal:
        """Run ``req`` on the local model; refusals are values, not exceptions.

        This node's own work runs at PRIORITY_OWN; peers' tasks come through ``_handle`` with
        the priority the node gives that peer (a preemptible generation may come back short,
        finish_reason "length", when more urgent work was waiting). A generation streams
        into the request's live sink when one is open for this task (see ``live``).
        """
        live = current_live() if req.kind == "generate" else None
        claim = live.claim() if live is not None else None
        if claim is None:
            return await self._run(req, priority=priority, preemptible=preemptible)
        with claim:
            reply = await self._run(req, priority=priority, preemptible=preemptible, on_text=claim.emit)
            if isinstance(reply, TaskRefusal):
                claim.fail(f"refused ({reply.reason}): {reply.detail}")
            return reply

    async def _run(self, req: TaskRequest, *, priority: int, preemptible: bool,
                   on_text: TextSink | None = None) -> TaskResult | TaskRefusal:
        """``execute`` without the live sink: ``on_text`` (if given) receives the tokens."""
        limit_problem = self._check_limits(req)
        if limit_problem:
            return _refuse(req, "over_limits", limit_problem)
        remaining_s = (req.deadline_ms - now_ms()) / 1000
        if remaining_s <= 0:
            return _refuse(req, "deadline", "the deadline passed before the task started")
        deadline = trio.current_time() + remaining_s
        started = time.perf_counter()
        grounding = await self.grounder.ground(req) if self.grounder is not None else None
        if grounding is not None:
            reply = await self._run_model(grounding.request, deadline, started, priority, preemptible, on_text)
            return grounding.finish(reply) if isinstance(reply, TaskResult) else reply
        return await self._run_model(req, deadline, started, priority, preemptible, on_text)

    async def _run_model(self, req: TaskRequest, deadline: float, started: float, priority: int, preemptible: bool,
                         on_text: TextSink | None) -> TaskResult | TaskRefusal:
        try:
            if req.kind == "score":
                scores = await self._backend.score(req.prompt, list(req.continuations), deadline=deadline,
                                                   priority=priority)
                return TaskResult(
                    task_id=req.task_id,
                    text="",
                    prompt_tokens=0,
                    completion_tokens=0,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    confidence=0.0,
                    scores=[WireScore(logprob=s.logprob, n_tokens=s.n_tokens) for s in scores],
                    model=self._backend.profile.name,
                )
            gen = await self._generate(req, deadline=deadline, priority=priority, preemptible=preemptible,
                                       on_text=on_text)
        except BackendBusy as exc:
            return _refuse(req, "busy", str(exc), retry_after_ms=500)
        except DeadlineUnmeetable as exc:
            return _refuse(req, "deadline", str(exc))
        except PromptTooLong as exc:
            return _refuse(req, "over_limits", str(exc))
        except LLMError as exc:
            log.exception("backend failed")
            return _refuse(req, "internal", f"{type(exc).__name__}: {exc}")
        return TaskResult(
            task_id=req.task_id,
            text=gen.text,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens,
            latency_ms=gen.latency_s * 1000,
            confidence=gen.mean_logprob if math.isfinite(gen.mean_logprob) and gen.mean_logprob <= 0 else 0.0,
            scores=[],
            model=gen.model,
            finish_reason=gen.finish_reason,
        )

    async def _generate(self, req: TaskRequest, *, deadline: float, priority: int, preemptible: bool,
                        on_text: TextSink | None) -> Generation:
        """The backend call; with ``on_text``, tokens go there as they come (coalesced while it waits)."""
        async def generate(deltas: trio.MemorySendChannel[str] | None = None) -> Generation:
            return await self._backend.generate(
                messages=req.messages or None,
                prompt=req.prompt if not req.messages else None,
                max_tokens=req.max_tokens,
                temperature=req.temperature,
                stop=list(req.stop) or None,
                deadline=deadline,
                priority=priority,
                preemptible=preemptible,
                deltas=deltas,
            )

        if on_text is None:
            return await generate()
        send, recv = open_delta_channel()
        done: list[Generation] = []

        async def run() -> None:
            done.append(await generate(send))

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run)
                with recv:  # leaving early (on_text failed) tells the generation to stop
                    async for delta in recv:
                        await on_text(delta + receive_pending(recv))
        except BaseExceptionGroup as group:  # one side failed, the other ended: its error, as is
            raise (group.exceptions[0] if len(group.exceptions) == 1 else group) from None
        return done[0]

    def _check_limits(self, req: TaskRequest) -> str:
        size = len(req.prompt) + sum(len(m.content) for m in req.messages)
        size += sum(len(c) for c in req.continuations)
        if size > self._limits.max_prompt_chars:
            return f"prompt of {size} chars exceeds this node's limit of {self._limits.max_prompt_chars}"
        if req.max_tokens > self._limits.max_tokens:
            return f"max_tokens {req.max_tokens} exceeds this node's limit of {self._limits.max_tokens}"
        if req.kind == "score" and not req.continuations:
            return "a score task needs at least one continuation"
        if req.kind == "generate" and not (req.messages or req.prompt):
            return "a generate task needs messages or a prompt"
        return ""

    async def request(self, peer: ID, req: TaskRequest) -> TaskResult:
        """Ask ``peer`` to run ``req``; raises ``TaskRefused`` or a ``PeerCallError``.

        Streams into the request's live sink when one is open for this task (see ``live``).
        """
        live = current_live() if req.kind == "generate" else None
        claim = live.claim() if live is not None else None
        if claim is None:
            return await self._request(peer, req, None)
        with claim:
            return await self.request_stream(peer, req, claim.emit)

    async def request_stream(self, peer: ID, req: TaskRequest, on_text: TextSink) -> TaskResult:
        """``request`` with ``stream`` set: ``on_text`` receives the text as the peer generates it.

        The pieces concatenate to the returned result's text (a peer that does not stream
        gives one piece, the whole text); chunks that break the rules are a ``BadReply``
        recorded as a protocol violation, like any invalid reply.
        """
        return await self._request(peer, replace(req, stream=True), on_text)

    async def _request(self, peer: ID, req: TaskRequest, on_text: TextSink | None) -> TaskResult:
        assert self.endpoint is not None, "attach() an endpoint before calling peers"
        timeout_s = max(0.05, (req.deadline_ms - now_ms()) / 1000)
        peer_b58 = peer.to_base58()
        chunks = ChunkAssembler(req.task_id, max_chunks=req.max_tokens + 1, sender=peer.to_bytes())

        async def on_part(envelope: Envelope) -> bool:
            body = envelope.body
            if isinstance(body, TaskChunk) and on_text is not None:
                await on_text(chunks.feed(body))
                return True
            if isinstance(body, TaskResult | TaskRefusal):
                chunks.finish(body)
            return False

        envelope = await self.endpoint.call(peer, req, timeout_s=timeout_s,
                                            on_part=on_part if on_text is not None else None)
        reply = envelope.body
        if isinstance(reply, TaskRefusal):
            raise TaskRefused(peer_b58, reply)
        if not isinstance(reply, TaskResult) or reply.task_id != req.task_id:
            raise BadReply(f"{peer_b58} answered a different task", SchemaError("task_id mismatch"))
        if on_text is not None and chunks.count == 0 and reply.text:
            await on_text(reply.text)  # a peer that did not stream: the whole text at once
        return reply


def _chunk_sender(task_id: bytes, send_part: PartSender) -> TextSink:
    """Text pieces to signed ``task.chunk`` frames, numbered from 0 (split to fit MAX_CHUNK_TEXT)."""
    seq = 0
    width = MAX_CHUNK_TEXT // 4  # characters: at most 4 UTF-8 bytes each

    async def send(text: str) -> None:
        nonlocal seq
        for start in range(0, len(text), width):
            await send_part(TaskChunk(task_id=task_id, seq=seq, text=text[start:start + width]))
            seq += 1

    return send


def _refuse(req: TaskRequest, reason: str, detail: str, *, retry_after_ms: int = 0) -> TaskRefusal:
    return TaskRefusal(task_id=req.task_id, reason=reason, detail=truncate_utf8(detail, 512), retry_after_ms=retry_after_ms)


def _refusal_for(req: TaskRequest, refusal: TaskRefusal) -> TaskRefusal:
    return TaskRefusal(task_id=req.task_id, reason=refusal.reason, detail=refusal.detail, retry_after_ms=refusal.retry_after_ms)
