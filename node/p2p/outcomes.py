"""Task outcomes between peers (``/peermind/outcome/1.0.0``): every peer that answered learns.

When an asker learns whether a peer's answer was right (a seed item's ground truth, a
user's ``peermind feedback``), it tells that peer with a signed one-way ``task.outcome``
notice, so the peer records a labelled row of its own: its own embedding of the
question, its own model, right or wrong. Then every node that takes part in seeding
has training rows, and federated training finds participants with data.

Asker side: ``notify(peer, task_id, correct, split)`` queues a verdict; a background task
sends each peer its queued verdicts in batches (at most one notice per peer per
FLUSH_INTERVAL_S, MAX_OUTCOMES verdicts each). Nothing is retried: a lost notice costs
the peer a few rows, never the asker an answer.

Worker side: every task this node answered is remembered (``remember``) with its request
for SERVED_TTL_S, at most MAX_SERVED of them, oldest first out. A verdict is accepted only
- for a task this node served to the notice's signer: an asker can label only answers to
  its own questions, never another requester's;
- once per task (the remembered task is consumed) and within SERVED_TTL_S;
- while the signer stays within NOTICE_RATE notices per second (burst NOTICE_BURST).

Poisoning exposure: an asker may lie about the answers it asked for. What it can reach is
bounded by the tasks this node agreed to serve it (themselves metered by trust), one label
each; the rows it labels describe this node's own model on that asker's questions, and
federated training aggregates them with robust strategies like any other rows.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from peermind.protocol import (
    MAX_OUTCOMES,
    OUTCOME_PROTOCOL_ID,
    Envelope,
    Message,
    OutcomeEntry,
    Signer,
    TaskOutcome,
    TaskRequest,
    TaskResult,
    Verifier,
    seal,
    write_frame,
)
from peermind.trust import EvidenceSink, TokenBucket

from .streams import StreamEndpoint, UnexpectedMessage

log = logging.getLogger("peermind.node.outcomes")

OUTCOME_PROTOCOL = OUTCOME_PROTOCOL_ID
SERVED_TTL_S = 3600.0
"""How long a served task can still be labelled: long enough for a user to read an answer
and say whether it was right, short enough that the remembered questions stay few."""
MAX_SERVED = 4096
MAX_PENDING = 8192
"""Verdicts queued for sending, all peers together (more are dropped and counted)."""
FLUSH_INTERVAL_S = 1.0
SEND_TIMEOUT_S = 10.0
NOTICE_RATE = 2.0
NOTICE_BURST = 8.0
MAX_TRACKED_SENDERS = 256


@dataclass(frozen=True)
class ServedAnswer:
    """A task this node answered, kept so a verdict on it can become a row."""

    requester: str
    request: TaskRequest
    result: TaskResult
    served_at: float


@dataclass(frozen=True)
class Verdict:
    """An accepted verdict: the served answer and what its asker says about it."""

    served: ServedAnswer
    correct: bool
    split: str


RecordVerdict = Callable[[Verdict], None]


@dataclass
class OutcomeStats:
    """Counters of the outcome protocol, both ways (for status and the tests)."""

    sent: int = 0
    send_failed: int = 0
    dropped: int = 0
    accepted: int = 0
    rejected: int = 0
    rate_limited: int = 0


class ServedLedger:
    """Bounded memory of recently served tasks; ``claim`` hands each out once, to its asker."""

    def __init__(self, *, max_entries: int = MAX_SERVED, ttl_s: float = SERVED_TTL_S,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[bytes, ServedAnswer] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s
        self._now = now

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, requester: str, request: TaskRequest, reply: object) -> None:
        """Keep a successful answer (refusals are never labelled)."""
        if not isinstance(reply, TaskResult) or reply.task_id != request.task_id:
            return
        self._entries[request.task_id] = ServedAnswer(requester, request, reply, self._now())
        self._entries.move_to_end(request.task_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def claim(self, task_id: bytes, requester: str) -> ServedAnswer | None:
        """The served answer if ``requester`` asked for it and it is fresh; consumed either way."""
        self._expire()
        served = self._entries.get(task_id)
        if served is None or served.requester != requester:
            return None
        del self._entries[task_id]
        return served

    def _expire(self) -> None:
        cutoff = self._now() - self._ttl
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.served_at >= cutoff:
                return
            self._entries.popitem(last=False)


class OutcomeService:
    """Sends verdicts to the peers that answered, and turns verdicts on this node's answers into rows."""

    def __init__(self, record: RecordVerdict, *, ledger: ServedLedger | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._record = record
        self.ledger = ledger or ServedLedger(now=now)
        self._now = now
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._pending: dict[str, list[OutcomeEntry]] = {}
        self._pending_count = 0
        self._wake = trio.Event()
        self._host: IHost | None = None
        self._signer: Signer | None = None
        self._max_frame = 0
        self.stats = OutcomeStats()

    # ------------------------------------------------------------------ worker side
    def remember(self, requester: str, request: TaskRequest, reply: object) -> None:
        """Keep an answer this node served, so a verdict on it can later be matched (``ServedLedger``)."""
        self.ledger.remember(requester, request, reply)

    async def handle(self, envelope: Envelope, peer: str) -> Message | None:
        """Accept the verdicts of one notice (no reply frame: the notice is one-way)."""
        body = envelope.body
        if not isinstance(body, TaskOutcome):
            raise UnexpectedMessage(f"unexpected {envelope.msg_type} on the outcome protocol")
        if not self._bucket(peer).try_acquire():
            self.stats.rate_limited += 1
            log.info("outcome notice over its allowance: dropped", extra={"peer": peer})
            return None
        for entry in body.outcomes:
            served = self.ledger.claim(entry.task_id, peer)
            if served is None:
                self.stats.rejected += 1
                continue
            self.stats.accepted += 1
            self._record(Verdict(served, entry.correct, entry.split))
        return None

    def _bucket(self, peer: str) -> TokenBucket:
        bucket = self._buckets.pop(peer, None) or TokenBucket(NOTICE_RATE, NOTICE_BURST, now=self._now)
        self._buckets[peer] = bucket
        while len(self._buckets) > MAX_TRACKED_SENDERS:
            self._buckets.popitem(last=False)
        return bucket

    # ------------------------------------------------------------------ asker side
    def notify(self, peer: str, task_id: bytes, correct: bool, split: str = "train") -> None:
        """Queue "your answer to ``task_id`` was right/wrong" for ``peer`` (non-blocking)."""
        if self._pending_count >= MAX_PENDING:
            self.stats.dropped += 1
            return
        self._pending.setdefault(peer, []).append(OutcomeEntry(task_id=task_id, correct=correct, split=split))
        self._pending_count += 1
        self._wake.set()

    @property
    def pending(self) -> int:
        """Verdicts queued and not yet sent."""
        return self._pending_count

    def attach(self, host: IHost, signer: Signer, verifier: Verifier, *, max_frame_bytes: int,
               read_timeout_s: float, on_evidence: EvidenceSink) -> None:
        """Serve the protocol on the running host and send through it."""
        endpoint = StreamEndpoint(host, OUTCOME_PROTOCOL, signer, verifier, max_frame_bytes=max_frame_bytes,
                                  read_timeout_s=read_timeout_s, on_evidence=on_evidence)
        endpoint.serve(self.handle)
        self._host, self._signer, self._max_frame = host, signer, max_frame_bytes

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send queued verdicts: each peer at most one notice per FLUSH_INTERVAL_S."""
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await self.flush()
            await trio.sleep(FLUSH_INTERVAL_S)

    async def flush(self) -> None:
        """Send every peer one notice with (up to MAX_OUTCOMES of) its queued verdicts."""
        batches: list[tuple[str, list[OutcomeEntry]]] = []
        for peer in list(self._pending):
            entries = self._pending[peer]
            batch, rest = entries[:MAX_OUTCOMES], entries[MAX_OUTCOMES:]
            if rest:
                self._pending[peer] = rest
                self._wake.set()
            else:
                del self._pending[peer]
            self._pending_count -= len(batch)
            batches.append((peer, batch))
        async with trio.open_nursery() as nursery:
            for peer, batch in batches:
                nursery.start_soon(self._send, peer, batch)

    async def _send(self, peer: str, batch: list[OutcomeEntry]) -> None:
        if self._host is None or self._signer is None:
            self.stats.send_failed += len(batch)
            return
        frame = seal(self._signer, TaskOutcome(outcomes=batch), peer)
        try:
            with trio.fail_after(SEND_TIMEOUT_S):
                stream = await self._host.new_stream(ID.from_base58(peer), [OUTCOME_PROTOCOL])
                try:
                    await write_frame(stream, frame, max_bytes=self._max_frame, timeout_s=SEND_TIMEOUT_S)
                finally:
                    await stream.close()
        except Exception as exc:  # the peer left or does not speak the protocol: it loses a few rows
            self.stats.send_failed += len(batch)
            log.info("could not send outcomes", extra={"peer": peer, "error": f"{type(exc).__name__}: {exc}"})
            return
        self.stats.sent += len(batch)
