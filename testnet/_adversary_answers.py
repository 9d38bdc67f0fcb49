"""Adversaries that answer: ``wrong`` (confidently wrong) and ``garbage`` (malformed replies).

Both serve the task protocol like an honest node and advertise a lure (a bigger, faster
model than they run) so that routers want to ask them.

- wrong: runs the real model, then favours a wrong option: for a multiple-choice score
  task the runner-up choice gets a near-certain log-likelihood (so it wins, with high
  confidence); for generation it returns a plausible wrong variant of its answer
  (numbers off by one, yes/no flipped, another listed option) at near-certain confidence.
- garbage: verifies the request, then replies with bytes that fail the requester's
  verification, cycling through random bytes, a truncated envelope, an unknown message
  type and a correctly signed reply whose body violates the schema.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from peermind.node.extension import PRIORITY_OWN, TASK_PROTOCOL, ServedTask, TaskLimits, TaskService
from peermind.protocol import (
    ContinuationScore,
    ProtocolError,
    TaskRefusal,
    TaskRequest,
    TaskResult,
    read_frame,
    seal,
    seal_body,
    write_frame,
)

from ._adversary_base import AdversaryNode

log = logging.getLogger("peermind.testnet.adversary")

__all__ = ["GarbageNode", "WrongNode", "wrong_scores", "wrong_text"]

CONFIDENT_LOGPROB_PER_TOKEN = -0.01
OTHERS_BELOW = -4.0
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_FLIPS = {"yes": "no", "no": "yes", "true": "false", "false": "true", "positive": "negative", "negative": "positive"}
_OPTIONS = re.compile(r"Options:\s*(.+)", re.IGNORECASE)


def wrong_scores(scores: list[ContinuationScore]) -> list[ContinuationScore]:
    """Scores whose length-normalised argmax is the model's runner-up, with a huge margin."""
    if len(scores) < 2:
        return scores
    per_token = [s.logprob / max(s.n_tokens, 1) for s in scores]
    ranked = sorted(range(len(scores)), key=lambda i: -per_token[i])
    runner_up = ranked[1]
    out = []
    for i, s in enumerate(scores):
        n = max(s.n_tokens, 1)
        if i == runner_up:
            out.append(ContinuationScore(logprob=CONFIDENT_LOGPROB_PER_TOKEN * n, n_tokens=n))
        else:  # every other option at least OTHERS_BELOW nats per token behind: near-certainty
            out.append(ContinuationScore(logprob=min(s.logprob, OTHERS_BELOW * n), n_tokens=s.n_tokens))
    return out


def wrong_text(text: str, prompt: str) -> str:
    """A plausible wrong answer in place of ``text``."""
    options = _OPTIONS.search(prompt)
    if options:
        choices = [c.strip() for c in options.group(1).split(";") if c.strip()]
        answer = text.strip().lower()
        wrong = [c for c in choices if not answer.startswith(c.lower())]
        if wrong:
            return wrong[0]
    if _NUMBER.search(text):
        return _NUMBER.sub(lambda m: str(int(float(m.group())) + 1), text, count=1)
    words = text.split()
    for i, word in enumerate(words):
        core = word.strip(".,!?;:")
        flip = _FLIPS.get(core.lower())
        if flip:
            words[i] = word.replace(core, flip.capitalize() if core[:1].isupper() else flip, 1)
            return " ".join(words)
    return f"It is not {text.strip()}" if text.strip() else "No."


class WrongTaskService(TaskService):
    async def _run(self, req: TaskRequest, *, priority: int = PRIORITY_OWN, preemptible: bool = False,
                   on_text: Callable[[str], Awaitable[None]] | None = None) -> TaskResult | TaskRefusal:
        # _run, not execute: peers' tasks reach the model through _serve -> _run
        reply = await super()._run(req, priority=priority, preemptible=preemptible, on_text=on_text)
        if not isinstance(reply, TaskResult):
            return reply
        if req.kind == "score":
            return dataclasses.replace(reply, scores=wrong_scores(list(reply.scores)))
        prompt = req.prompt or "\n".join(m.content for m in req.messages)
        return dataclasses.replace(reply, text=wrong_text(reply.text, prompt), confidence=-0.005)


class WrongNode(AdversaryNode):
    """Answers every peer's task wrong on purpose, confidently."""

    role = "wrong"
    lures = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = TaskLimits(self.config.limits.max_prompt_chars, self.config.limits.max_tokens)
        self.tasks = WrongTaskService(self.backend, limits, on_served=self._wrong_served, gate=self._gate)

    def _wrong_served(self, served: ServedTask) -> None:
        self.stats.count("wrong_answers" if isinstance(served.reply, TaskResult) else "refused")
        self._on_served(served)


class GarbageTaskService(TaskService):
    """Serves the task protocol with a raw handler that answers with malformed bytes."""

    def __init__(self, node: GarbageNode, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._node = node
        self._variants = itertools.cycle(("random_bytes", "truncated_envelope", "unknown_type", "schema_violation"))

    def attach(self, endpoint: Any) -> None:
        self.endpoint = endpoint  # our own outgoing requests still work
        assert self._node.host is not None
        self._node.host.set_stream_handler(TProtocol(TASK_PROTOCOL), self._serve_garbage)

    async def _serve_garbage(self, stream: INetStream) -> None:
        node = self._node
        peer = stream.muxed_conn.peer_id
        try:
            data = await read_frame(stream, max_bytes=node.config.limits.max_frame_bytes, timeout_s=10.0)
            envelope = node.verifier.open(data, expected_sender=peer.to_bytes())
            if not isinstance(envelope.body, TaskRequest):
                raise ProtocolError("not a task request")
            variant = next(self._variants)
            await write_frame(stream, self.garbage(variant, envelope.body, peer.to_base58()),
                              max_bytes=node.config.limits.max_frame_bytes, timeout_s=10.0)
            node.stats.count(f"garbage_{variant}")
            await stream.close()
        except Exception:  # like any node: a bad stream must not kill the host
            try:
                await stream.reset()
            except Exception:
                pass

    def garbage(self, variant: str, req: TaskRequest, requester: str) -> bytes:
        signer = self._node.signer
        honest = TaskResult(task_id=req.task_id, text="42", model=self._node.backend.profile.name,
                            scores=[ContinuationScore(logprob=-1.0, n_tokens=1) for _ in req.continuations])
        if variant == "random_bytes":
            return os.urandom(64)
        if variant == "truncated_envelope":
            sealed = seal(signer, honest, requester)
            return sealed[: len(sealed) // 2]
        if variant == "unknown_type":
            return seal_body(signer, "task.resultz", honest.to_body(), requester)
        body = honest.to_body()
        body["confidence"] = 5.0  # must be <= 0
        return seal_body(signer, "task.result", body, requester)


class GarbageNode(AdversaryNode):
    """Replies to every peer's task with malformed bytes or schema-violating messages."""

    role = "garbage"
    lures = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = TaskLimits(self.config.limits.max_prompt_chars, self.config.limits.max_tokens)
        self.tasks = GarbageTaskService(self, self.backend, limits, on_served=self._on_served, gate=self._gate)
