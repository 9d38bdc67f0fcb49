"""Global trust: publish this node's opinions, collect others', run EigenTrust.

Every ``opinion_interval_s`` the node publishes its normalised local trust
(``ReputationBook.local_opinions``: only peers above the newcomer prior, at most 256) as a
signed ``trust.opinion`` on ``peermind/<network>/trust/1``. Opinions from others are
admitted per issuer by rate (``Admission.admit_opinion``), verified (the envelope's signer
must be the gossip origin, addressed to this topic), and handed to ``GlobalTrust``, which
drops an issuer's opinion of itself and weighs each issuer by its own global trust.
Pre-trusted peers (the anchor) are the bootstrap peers plus ``trust.pre_trusted``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio
from libp2p.abc import ISubscriptionAPI
from libp2p.peer.id import ID
from libp2p.pubsub.pubsub import Pubsub
from peermind.protocol import (
    PeerOpinion,
    ProtocolError,
    SchemaError,
    Signer,
    TrustOpinion,
    Verifier,
    seal,
)
from peermind.trust import EvidenceSink, GlobalTrust, InvalidInput, ViolationSource

from ..p2p.evidence import protocol_evidence
from ..p2p.streams import UnexpectedMessage
from ._ledger import TrustLedger
from ._metrics import TrustMetrics

log = logging.getLogger("peermind.node.trust")

__all__ = ["MAX_PUBLISHED", "OpinionGossip", "trust_topic"]

MAX_PUBLISHED = 256


def trust_topic(network: str) -> str:
    return f"peermind/{network}/trust/1"


class OpinionGossip:
    """Publishes and ingests trust opinions; keeps the latest global trust vector."""

    def __init__(
        self,
        ledger: TrustLedger,
        metrics: TrustMetrics,
        global_trust: GlobalTrust,
        *,
        network: str,
        signer: Signer,
        verifier: Verifier,
        admit: Callable[[str], bool],
        on_evidence: EvidenceSink,
        interval_s: float,
    ) -> None:
        self._ledger = ledger
        self._metrics = metrics
        self.global_trust = global_trust
        self.topic = trust_topic(network)
        self._signer = signer
        self._verifier = verifier
        self._admit = admit
        self._on_evidence = on_evidence
        self.interval_s = interval_s
        self.values: dict[str, float] = {}
        self.computed_at = 0.0
        self.published = 0

    # ------------------------------------------------------------------ computing
    def recompute(self) -> dict[str, float]:
        """Global trust now, from the held opinions plus this node's own view."""
        self.values = self.global_trust.compute(self._ledger.book.local_opinions())
        self.computed_at = time.time()
        return self.values

    def own_opinion(self, epoch: int) -> TrustOpinion | None:
        """This node's opinion message (None when it trusts nobody above the prior)."""
        local = self._ledger.book.local_opinions()
        if not local:
            return None
        top = sorted(local.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_PUBLISHED]
        return TrustOpinion(epoch=epoch, opinions=[PeerOpinion(peer=p, trust=min(1.0, v)) for p, v in top])

    def ingest(self, origin: str, data: bytes) -> bool:
        """Handle one gossip message from ``origin``; True if its opinion was stored."""
        if not self._admit(origin):
            return False
        try:
            envelope = self._verifier.open(data, expected_sender=ID.from_base58(origin).to_bytes(),
                                           expected_recipient=self.topic)
        except ProtocolError as exc:
            self._metrics.opinions.labels(outcome="rejected").inc()
            self._report(origin, exc)
            return False
        body = envelope.body
        if not isinstance(body, TrustOpinion):
            self._metrics.opinions.labels(outcome="rejected").inc()
            self._report(origin, UnexpectedMessage(f"{envelope.msg_type} on the trust topic"))
            return False
        try:
            stored = self.global_trust.update_opinion(origin, body.epoch, {o.peer: o.trust for o in body.opinions})
        except InvalidInput as exc:
            self._metrics.opinions.labels(outcome="rejected").inc()
            self._report(origin, SchemaError(str(exc)))
            return False
        self._metrics.opinions.labels(outcome="received" if stored else "stale").inc()
        return stored

    def _report(self, origin: str, exc: ProtocolError) -> None:
        event = protocol_evidence(origin, exc, ViolationSource.OPINION)
        if event is not None:
            self._on_evidence(event)

    # ------------------------------------------------------------------ gossip
    async def run(self, pubsub: Pubsub, self_id: str, *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        subscription = await pubsub.subscribe(self.topic)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_loop, subscription, self_id)
            nursery.start_soon(self._publish_loop, pubsub)
            task_status.started()

    async def _publish_loop(self, pubsub: Pubsub) -> None:
        await trio.sleep(min(self.interval_s, 5.0))  # let the mesh form first
        while True:
            try:
                opinion = self.own_opinion(epoch=int(time.time() * 1000))
                if opinion is not None:
                    await pubsub.publish(self.topic, seal(self._signer, opinion, self.topic))
                    self.published += 1
                    self._metrics.opinions.labels(outcome="published").inc()
                self.recompute()
            except Exception:  # a failed round must not end the daemon
                log.exception("publishing trust opinions failed")
            await trio.sleep(self.interval_s)

    async def _read_loop(self, subscription: ISubscriptionAPI, self_id: str) -> None:
        while True:
            message = await subscription.get()
            try:
                origin = ID(bytes(message.from_id)).to_base58()
            except Exception:
                continue
            if origin == self_id:
                continue
            try:
                self.ingest(origin, bytes(message.data))
            except Exception:
                log.exception("handling a trust opinion failed", extra={"peer": origin})
