"""Task exchange on ``/peermind/task/1.0.0``: negotiation, requests, answers.

A client may negotiate first (offer -> bids -> award) or send a
``TaskRequest`` straight away; the worker answers with exactly one
``TaskResult`` or ``TaskRefusal`` carrying the same ``task_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from ._fields import KIB, Count, EpochMs, ModelName, NonNegFloat, PeerText, TaskId, TaskKind, Unit
from ._schema import Limits, Message, check_field
from ._schemas_knowledge import MAX_CITATIONS, MAX_PASSAGES, Citation, Passage

MAX_CONTENT = 64 * KIB
MAX_PROMPT = 256 * KIB
MAX_TEXT = 256 * KIB
MAX_TOKENS = 4096

Tokens = Annotated[int, Limits(ge=0, le=10_000_000)]
Content = Annotated[str, Limits(max_len=MAX_CONTENT)]


@dataclass(frozen=True, kw_only=True)
class ChatMessage(Message):
    """One turn of a chat conversation."""

    role: Annotated[str, Limits(one_of=("system", "user", "assistant"))]
    content: Content


@dataclass(frozen=True, kw_only=True)
class ContinuationScore(Message):
    """Log-probability of one candidate continuation (``score`` tasks)."""

    logprob: Annotated[float, Limits(ge=-1e12, le=0.0)]
    n_tokens: Annotated[int, Limits(ge=0, le=1_000_000)]


@dataclass(frozen=True, kw_only=True)
class TaskRequest(Message):
    """Ask a peer to generate text or score continuations."""

    TYPE: ClassVar[str] = "task.request"

    task_id: TaskId
    kind: TaskKind
    messages: Annotated[list[ChatMessage], Limits(max_items=64)] = field(default_factory=list)
    """Chat turns (``generate``); may be empty when ``prompt`` is set."""
    prompt: Annotated[str, Limits(max_len=MAX_PROMPT)] = ""
    """Raw completion prompt (used as-is, no chat template)."""
    continuations: Annotated[list[Content], Limits(max_items=32)] = field(default_factory=list)
    """Candidates to score after the prompt (``score``)."""
    max_tokens: Annotated[int, Limits(ge=1, le=MAX_TOKENS)] = 128
    temperature: Annotated[float, Limits(ge=0.0, le=2.0)] = 0.0
    deadline_ms: EpochMs
    """Absolute epoch ms after which the answer is useless to the asker."""
    model: ModelName = ""
    stop: Annotated[list[Annotated[str, Limits(min_len=1, max_len=64)]], Limits(max_items=8)] = (
        field(default_factory=list)
    )
    """Stop sequences (generation ends before any of them)."""
    stream: bool | None = None
    """True: the worker may send ``task.chunk`` frames before its reply (see _stream_chunks).
    Absent (or false): exactly one reply frame, as for requesters that predate streaming."""
    evidence: bool | None = None
    """True: return the passages the answer drew on in ``TaskResult.passages``, if the
    worker's policy allows sharing them (it may answer without them)."""

    def _check(self) -> None:
        has_input = bool(self.messages) or bool(self.prompt)
        check_field(has_input, "messages", "or 'prompt' must be non-empty")
        if self.kind == "score":
            check_field(bool(self.continuations), "continuations", "must be non-empty for score")


@dataclass(frozen=True, kw_only=True)
class TaskResult(Message):
    """A successful answer."""

    TYPE: ClassVar[str] = "task.result"

    task_id: TaskId
    text: Annotated[str, Limits(max_len=MAX_TEXT)] = ""
    prompt_tokens: Tokens = 0
    completion_tokens: Tokens = 0
    latency_ms: NonNegFloat = 0.0
    confidence: Annotated[float, Limits(ge=-1e12, le=0.0)] = 0.0
    """Mean token log-probability of ``text`` (<= 0; 0 when unknown)."""
    scores: Annotated[list[ContinuationScore], Limits(max_items=32)] = field(
        default_factory=list
    )
    """One entry per requested continuation, same order (``score``)."""
    model: ModelName = ""
    finish_reason: Annotated[str, Limits(max_len=32)] = ""
    """Why generation stopped (``stop``, ``length``...); empty if unknown."""
    citations: Annotated[list[Citation], Limits(max_items=MAX_CITATIONS)] = field(default_factory=list)
    """Passages of the worker's local corpus the answer drew on, by id (knowledge peers)."""
    passages: Annotated[list[Passage], Limits(max_items=MAX_PASSAGES)] = field(default_factory=list)
    """Evidence snippets, only when the request set ``evidence`` and the worker shares passages."""


@dataclass(frozen=True, kw_only=True)
class TaskRefusal(Message):
    """The worker will not (or could not) answer."""

    TYPE: ClassVar[str] = "task.refusal"

    task_id: TaskId
    reason: Annotated[
        str,
        Limits(
            one_of=(
                "busy",
                "over_limits",
                "deadline",
                "unsupported",
                "internal",
                "untrusted",
                "rate_limited",
                "wrong_network",
                "not_member",
                "unadvertised",
            )
        ),
    ]
    detail: Annotated[str, Limits(max_len=512)] = ""
    retry_after_ms: Annotated[int, Limits(ge=0, le=86_400_000)] = 0


@dataclass(frozen=True, kw_only=True)
class TaskOffer(Message):
    """Call for bids: describes a task without revealing the prompt."""

    TYPE: ClassVar[str] = "task.offer"

    task_id: TaskId
    kind: TaskKind
    prompt_tokens_est: Tokens = 0
    max_tokens: Annotated[int, Limits(ge=1, le=MAX_TOKENS)] = 128
    deadline_ms: EpochMs
    budget_cost: NonNegFloat = 0.0
    embedding_digest: Annotated[bytes | None, Limits(max_len=64)] = None
    """Optional compact digest of the prompt embedding (for specialised bidders)."""
    model: ModelName = ""


@dataclass(frozen=True, kw_only=True)
class TaskBid(Message):
    """A worker's answer to an offer."""

    TYPE: ClassVar[str] = "task.bid"

    task_id: TaskId
    est_latency_ms: NonNegFloat
    cost: NonNegFloat
    confidence: Unit
    queue_depth: Count = 0
    model: ModelName = ""


@dataclass(frozen=True, kw_only=True)
class TaskAward(Message):
    """The asker's choice among the bids (sent to the winner, optionally to all)."""

    TYPE: ClassVar[str] = "task.award"

    task_id: TaskId
    winner: PeerText
