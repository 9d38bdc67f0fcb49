"""A Flower Grid whose "SuperLink" is the node's libp2p training protocol.

Flower's Grid API is synchronous, and ``GridTransport.exchange`` blocks, so to
ask peers in parallel the grid either hands the whole batch to the transport's
``exchange_many`` (one blocking call; the node fans out inside trio), or, for a
plain transport, runs one ``exchange`` per peer in a small per-batch thread
pool. Every exchange gets the time left until the batch deadline, and
``send_and_receive`` returns at that deadline whatever is still in flight:
one slow or dead peer cannot stall a round.

Replies are accepted only if they answer the instruction that was sent to that
peer (reply_to id, source node, run, type): a peer cannot speak for another.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import cast

from flwr.app import Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from ._errors import MalformedMessage, TransportError
from ._flower_compat import (
    ensure_instruction_identity,
    message_from_bytes,
    message_to_bytes,
    stamp_instruction,
)
from ._transport import BatchGridTransport, GridTransport, node_id_for_peer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExchangeOutcome:
    """What happened to one instruction sent to one peer."""

    peer: str
    node_id: int
    message_type: str
    group_id: str
    ok: bool
    reason: str
    seconds: float


@dataclass(slots=True)
class _InFlight:
    message: Message
    peer: str
    future: Future[bytes]
    started: float


class P2PGrid(Grid):
    """Flower Grid over a GridTransport; node_id = node_id_for_peer(peer ID).

    ``get_node_ids`` returns the peer snapshot taken by the last ``refresh``
    (taken automatically on first use), so a strategy samples from a stable
    set within a round even if peers come and go meanwhile.
    """

    def __init__(
        self,
        transport: GridTransport,
        *,
        run_id: int | None = None,
        default_timeout_s: float = 30.0,
        max_workers: int = 8,
    ) -> None:
        ensure_instruction_identity()
        self._transport = transport
        self._run = Run.create_empty(run_id if run_id is not None else secrets.randbits(62))
        self._default_timeout_s = default_timeout_s
        self._max_workers = max(1, max_workers)
        self._peer_by_node: dict[int, str] = {}
        self._snapshot: list[int] | None = None
        self._in_flight: dict[str, _InFlight] = {}
        self._outcomes: list[ExchangeOutcome] = []

    # --- run ------------------------------------------------------------------

    def set_run(self, run: Run) -> None:
        if not isinstance(run, Run):
            raise TypeError(f"`run` must be a flwr Run, got {type(run).__name__}")
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    # --- peers ----------------------------------------------------------------

    def refresh(self) -> list[int]:
        """Ask the transport who is reachable now; returns (and keeps) their node IDs."""
        try:
            peers = list(self._transport.peers())
        except Exception as exc:  # the node's peer table failing = nobody reachable
            log.warning("transport.peers() failed: %s", exc)
            peers = []
        ids: list[int] = []
        for peer in dict.fromkeys(peers):
            try:
                node_id = node_id_for_peer(peer)
            except TransportError as exc:
                log.warning("ignoring peer %r: %s", peer, exc)
                continue
            known = self._peer_by_node.setdefault(node_id, peer)
            if known != peer:
                log.warning("node_id collision between %s and %s; skipping the latter", known, peer)
                continue
            ids.append(node_id)
        self._snapshot = ids
        return list(ids)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._snapshot) if self._snapshot is not None else self.refresh()

    def peer_id(self, node_id: int) -> str | None:
        """The authenticated peer ID behind a Flower node_id (None if never seen)."""
        return self._peer_by_node.get(node_id)

    # --- messages -------------------------------------------------------------

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._push(messages, self._default_timeout_s)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        replies: list[Message] = []
        for message_id in list(message_ids):
            flight = self._in_flight.get(message_id)
            if flight is None or not flight.future.done():
                continue
            del self._in_flight[message_id]
            reply = self._accept(message_id, flight)
            if reply is not None:
                replies.append(reply)
        return replies

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        budget = self._default_timeout_s if timeout is None else timeout
        ids = self._push(messages, budget)
        wait([self._in_flight[i].future for i in ids], timeout=budget)
        replies = list(self.pull_messages(ids))
        for message_id in ids:
            flight = self._in_flight.pop(message_id, None)
            if flight is not None:
                flight.future.cancel()
                self._record(flight, ok=False, reason=f"no reply within {budget:.1f} s")
        return replies

    def outcomes(self, *, group_id: str | None = None) -> list[ExchangeOutcome]:
        """Per-exchange log (optionally of one group, i.e. one round)."""
        return [o for o in self._outcomes if group_id is None or o.group_id == group_id]

    # --- internals ------------------------------------------------------------

    def _push(self, messages: Iterable[Message], budget_s: float) -> list[str]:
        deadline = time.monotonic() + budget_s
        batch: dict[str, tuple[str, Message, bytes]] = {}
        for msg in messages:
            peer = self._peer_by_node.get(msg.metadata.dst_node_id)
            if peer is None:
                log.warning(
                    "no peer known for node_id %s; message dropped", msg.metadata.dst_node_id
                )
                continue
            message_id = str(uuid.uuid4())
            stamp_instruction(msg, run_id=self._run.run_id, message_id=message_id)
            batch[message_id] = (peer, msg, message_to_bytes(msg))
        if not batch:
            return []
        started = time.monotonic()
        futures = self._dispatch({mid: (p, data) for mid, (p, _, data) in batch.items()}, deadline)
        for message_id, (peer, msg, _) in batch.items():
            self._in_flight[message_id] = _InFlight(msg, peer, futures[message_id], started)
        return list(batch)

    def _dispatch(
        self, jobs: Mapping[str, tuple[str, bytes]], deadline: float
    ) -> dict[str, Future[bytes]]:
        transport = self._transport
        futures: dict[str, Future[bytes]] = {mid: Future() for mid in jobs}
        for future in futures.values():
            future.set_running_or_notify_cancel()

        def settle(message_id: str, call: object) -> None:
            future = futures[message_id]
            if future.done():
                return
            if isinstance(call, BaseException):
                future.set_exception(call)
            elif isinstance(call, bytes | bytearray):
                future.set_result(bytes(call))
            else:
                future.set_exception(TransportError(f"transport returned {type(call).__name__}"))

        def exchange_one(message_id: str, peer: str, payload: bytes) -> None:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TransportError("round deadline passed before the message was sent")
                settle(message_id, transport.exchange(peer, payload, remaining))
            except BaseException as exc:  # noqa: B036 - every failure becomes this peer's outcome
                settle(message_id, exc)

        def exchange_batch(batch: BatchGridTransport) -> None:
            by_peer = {peer: (mid, payload) for mid, (peer, payload) in jobs.items()}
            try:
                results = batch.exchange_many(
                    {peer: payload for peer, (_, payload) in by_peer.items()},
                    max(0.0, deadline - time.monotonic()),
                )
            except BaseException as exc:  # noqa: B036
                results = {peer: exc for peer in by_peer}
            for peer, (mid, _) in by_peer.items():
                settle(mid, results.get(peer, TransportError("no result from exchange_many")))

        one_per_peer = len({peer for peer, _ in jobs.values()}) == len(jobs)
        batched = isinstance(transport, BatchGridTransport) and one_per_peer
        workers = 1 if batched else min(len(jobs), self._max_workers)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="peermind-fl")
        try:
            if batched:
                pool.submit(exchange_batch, cast(BatchGridTransport, transport))
            else:
                for message_id, (peer, payload) in jobs.items():
                    pool.submit(exchange_one, message_id, peer, payload)
        finally:
            pool.shutdown(wait=False)  # finished threads exit; results arrive via futures
        return futures

    def _accept(self, message_id: str, flight: _InFlight) -> Message | None:
        """The peer's reply if it is a well-formed answer to this instruction, else None."""
        try:
            payload = flight.future.result(timeout=0)
            reply = message_from_bytes(payload)
        except MalformedMessage as exc:
            self._record(flight, ok=False, reason=f"malformed reply: {exc}")
            return None
        except BaseException as exc:  # noqa: B036 - TransportError or the transport's own bug
            self._record(flight, ok=False, reason=f"{type(exc).__name__}: {exc}")
            return None
        sent, got = flight.message.metadata, reply.metadata
        mismatch = (
            got.reply_to_message_id != message_id
            or got.src_node_id != sent.dst_node_id
            or got.run_id != sent.run_id
            or got.message_type != sent.message_type
        )
        if mismatch:
            self._record(flight, ok=False, reason="reply does not answer the instruction sent")
            return None
        self._record(flight, ok=True, reason="")
        return reply

    def _record(self, flight: _InFlight, *, ok: bool, reason: str) -> None:
        meta = flight.message.metadata
        self._outcomes.append(
            ExchangeOutcome(
                peer=flight.peer,
                node_id=meta.dst_node_id,
                message_type=meta.message_type,
                group_id=meta.group_id,
                ok=ok,
                reason=reason,
                seconds=time.monotonic() - flight.started,
            )
        )
        if not ok:
            log.info("peer %s dropped from %s: %s", flight.peer, meta.message_type, reason)
