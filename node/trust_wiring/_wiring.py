"""The node's trust department: one object the daemon holds as ``node.trust``.

It owns the reputation book (persisted in the store), admission control (bans, rate
limits, proof of work), verification (canaries, cross-checks), global trust gossip and
ban enforcement, and exposes what the rest of the node needs:

- ``reputation(peer) -> float`` (also ``Node.reputation``): the local score in [0, 1],
- ``should_ask(peer)`` / ``routing_weight(peer)``: the Collaborator's ``peer_allowed`` and
  ``peer_weight`` hooks, and ``Candidate.trust``. Both read ``decision_score(peer)``: the
  local score, blended with the network's global trust (EigenTrust) while local evidence is
  thin (``peermind.trust.blend``). The routing weight is a probability-like "answers
  honestly" in [0, 1]: ``trust.newcomer_weight`` (0.9) for a peer with no evidence, 1 for
  trusted peers, falling with negative evidence to 0 when excluded,
- ``on_canary_outcome``: set it (any time) to receive a ``CanaryOutcome`` for every judged
  canary and idle probe, and for this node's own model's answer to the same item,
- ``observe(event)``: every piece of evidence the node records (a typed ``EvidenceEvent``),
- ``gate(peer)``, ``admit_ad(peer)``, ``check_ad(peer, ad)``: inbound admission,
- ``snapshot()`` / ``explain(peer)``: the data behind ``peermind peers --trust`` and
  ``peermind trust explain``.

With ``trust.enabled = false`` evidence is still recorded and scored (so the figures can
be compared), but nothing is excluded, refused, rate-limited or verified.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import trio
from libp2p.pubsub.score import ScoreParams
from peermind.protocol import CapabilityAd, TaskRefusal, TaskRequest, TaskResult
from peermind.trust import (
    Evidence,
    EvidenceEvent,
    EvidenceRecord,
    GlobalTrust,
    InvalidInput,
    LimitKind,
    ModelBaseline,
    ProofOfWork,
    Standing,
    UnknownPeer,
    blend,
    global_score,
    honesty_weight,
    violation_source,
)
from prometheus_client import CollectorRegistry

from ..collab.answer import Answer
from ..collab.candidates import Candidate
from ..collab.job import Job
from ..config import NodeConfig
from ..p2p.ads import PeerAd
from ..store import Store
from ._admission import Admission
from ._canary_deck import CANARY_FILE, CanaryDeck, ProbeBudget, load_canaries
from ._config_params import trust_params
from ._enforcer import BanEnforcer
from ._errors import PeerNotKnown
from ._ledger import TrustLedger
from ._metrics import TrustMetrics
from ._opinions import OpinionGossip
from ._outcome import CanaryOutcome, OutcomeSink
from ._own_pow import load_or_solve_pow
from ._ports import CollabHooksPort, TrustPorts
from ._probe_share import ProbeShare
from ._tarpit import Tarpit
from ._verification import Verification

log = logging.getLogger("peermind.node.trust")

__all__ = ["TrustWiring", "bootstrap_peer_ids"]

METRICS_REFRESH_S = 2.0
MAX_GAUGE_PEERS = 200
LOCAL_CHECK_PRIORITY = 4
"""Queue priority of this node's own answers to its canaries: below every peer's task
(own work 0, trusted 1, unproven 2, suspects 3), so they only use a model nobody waits for."""


class _Board(Protocol):
    """The ads this node holds (who advertises which model)."""

    def fresh(self) -> list[PeerAd]: ...
    def get(self, peer_id: str) -> PeerAd | None: ...
    def remove(self, peer_id: str) -> None: ...


def bootstrap_peer_ids(addrs: Sequence[str]) -> list[str]:
    """Peer IDs at the end of full multiaddrs (``.../p2p/<id>``)."""
    return [a.rsplit("/p2p/", 1)[1] for a in addrs if "/p2p/" in a]


class TrustWiring:
    def __init__(
        self,
        config: NodeConfig,
        store: Store | None,
        registry: CollectorRegistry,
        peer_id: str,
        *,
        board: _Board | None = None,
        model: str = "",
        now: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.enabled = config.trust.enabled
        self.peer_id = peer_id
        self.params = trust_params(config)
        self.registry = registry
        self.metrics = TrustMetrics(registry)
        self._board = board
        self._model = model
        self.ledger = TrustLedger(self.params, store, now=now, on_standing=self._on_standing)
        self.book = self.ledger.book
        self.pow = ProofOfWork(config.network, config.trust.pow_difficulty_bits)
        self.pow_nonce = 0
        self.admission = Admission(self.ledger, self.metrics, enabled=self.enabled, pow_=self.pow)
        self.tarpit = Tarpit(self.is_banned, on_hold=self.metrics.refusals.labels(reason="untrusted_held").inc)
        """Holds a banned flooder's turned-away task streams unread before they are reset."""
        anchors = {p for p in [*bootstrap_peer_ids(config.bootstrap), *config.trust.pre_trusted] if p != peer_id}
        self.global_trust = GlobalTrust(sorted(anchors), self_id=peer_id)
        self._not_averaged = frozenset({peer_id, *anchors})
        self.baseline = ModelBaseline(own_model=model)
        self.newcomer_weight = config.trust.newcomer_weight
        self.on_canary_outcome: OutcomeSink | None = None
        """Set by the daemon (any time) to receive every judged canary and probe, local answers too."""
        self.verification: Verification | None = None
        self.opinions: OpinionGossip | None = None
        self.enforcer: BanEnforcer | None = None
        self.replayed = self.ledger.load()

    # ------------------------------------------------------------------ scores
    def reputation(self, peer: str) -> float:
        """Local reputation in [0, 1] (1 for this node itself, the prior for strangers)."""
        if peer == self.peer_id:
            return 1.0
        return self.book.score(peer)

    def decision_score(self, peer: str) -> float:
        """The score decisions use: local, blended with global trust while local evidence is thin.

        Peers this node has proof against (banned, or any protocol violation) are judged on
        local evidence alone: another node's good opinion does not undo a forged signature.
        """
        local = self.book.score(peer)
        if self.book.is_banned(peer) or self.book.counts(peer).get(Evidence.PROTOCOL_VIOLATION):
            return local
        return blend(local, self.book.interactions(peer), self.params.probation_interactions, self._global_score(peer))

    def vouched(self, peer: str) -> bool:
        """Whether global trust vouches for ``peer`` (its probers' opinions reached this node)."""
        return self._global_score(peer) is not None

    def _global_score(self, peer: str) -> float | None:
        """The network's trust in ``peer`` on the local scale, or None when nobody vouches for it."""
        return global_score(peer, self.global_scores(), prior=self.params.prior_mean, exclude=self._not_averaged)

    def should_ask(self, peer: str) -> bool:
        """Collaborator ``peer_allowed`` hook: False while banned or below the ask threshold."""
        if not self.enabled or peer == self.peer_id:
            return True
        return not self.book.is_banned(peer) and self.decision_score(peer) >= self.params.ask_threshold

    def routing_weight(self, peer: str) -> float:
        """Collaborator ``peer_weight`` hook and ``Candidate.trust``: P(this peer answers honestly).

        ``trust.newcomer_weight`` (0.9) for a peer with no evidence (or more, when the network
        vouches for it), 1 from ``trusted_threshold`` up, falling with negative evidence to 0
        at the ask threshold; 0 when excluded. The collaboration layer multiplies a
        candidate's predicted P(correct) by it, so an unproven honest peer with a better
        model can win routing from the first question.
        """
        if not self.enabled or peer == self.peer_id:
            return 1.0
        if not self.should_ask(peer):
            return 0.0
        p = self.params
        return honesty_weight(self.decision_score(peer), ask=p.ask_threshold, prior=p.prior_mean,
                              trusted=p.trusted_threshold, newcomer=self.newcomer_weight)

    def _emit_outcome(self, outcome: CanaryOutcome) -> None:
        if self.on_canary_outcome is not None:
            self.on_canary_outcome(outcome)

    def annotate(self, candidates: list[Candidate]) -> list[Candidate]:
        """Candidates with their routing weight in ``trust`` (when the field exists)."""
        if not candidates or not hasattr(candidates[0], "trust"):
            return candidates
        return [c if c.is_local else dataclasses.replace(  # type: ignore[call-arg]
                    c, trust=self.routing_weight(c.peer_id), local_records=self.book.interactions(c.peer_id))
                for c in candidates]

    # ------------------------------------------------------------------ evidence
    def observe(self, event: EvidenceEvent) -> None:
        """Record one observation of the node (streams, ads, collaboration, training)."""
        if event.peer == self.peer_id:
            return
        record = self.ledger.observe(event)
        if record is not None:
            self._count(record)

    def record(self, record: EvidenceRecord) -> None:
        self.ledger.record(record)
        self._count(record)

    def _count(self, record: EvidenceRecord) -> None:
        if record.kind is Evidence.PROTOCOL_VIOLATION:
            self.metrics.violations.labels(kind=record.subkind or "other", source=violation_source(record).value).inc()

    def _on_standing(self, peer: str, before: Standing, after: Standing) -> None:
        self.metrics.standing_changes.labels(standing=after.value).inc()
        level = logging.WARNING if after in (Standing.DO_NOT_ASK, Standing.BANNED) else logging.INFO
        log.log(level, "peer standing changed", extra={
            "peer": peer, "from": before.value, "to": after.value,
            "score": round(self.book.score(peer), 3), "interactions": self.book.interactions(peer),
        })

    # ------------------------------------------------------------------ admission
    def gate(self, peer: str) -> TaskRefusal | None:
        """Bans and request rates (task requests and negotiation offers alike)."""
        return self.admission.gate_task(peer)

    def admit_task(self, peer: str) -> TaskRefusal | None:
        """Per-peer concurrency of tasks actually run here; pair with ``task_done``."""
        return self.admission.admit_task(peer)

    def refuse_banned(self, peer: str) -> TaskRefusal | None:
        """``untrusted`` while the peer is banned: checked before any other gate, so a banned
        peer always learns why (and is not kept waiting for an ad its ban removed)."""
        return self.admission.refuse_banned(peer)

    def is_banned(self, peer: str) -> bool:
        """Banned, and trust acts on it."""
        return self.enabled and self.book.is_banned(peer)

    def charge_work(self, peer: str, request: TaskRequest) -> TaskRefusal | None:
        """Charge a task's tokens to the peer's work allowance; pair with ``settle_work``."""
        return self.admission.charge_work(peer, request)

    def settle_work(self, request: TaskRequest, reply: TaskResult | TaskRefusal | None) -> None:
        """Refund the tokens a charged task did not use."""
        self.admission.settle_work(request, reply)

    def turn_away(self, peer: str) -> bool:
        """Whether to reset a peer's task stream unread (a banned peer already told so, or one
        that keeps asking while told to wait)."""
        return self.admission.turn_away(peer)

    def noting_waits(self, admit: Callable[[str], TaskRefusal | None]) -> Callable[[str], TaskRefusal | None]:
        """``admit`` whose ``rate_limited`` refusals (the newcomer pool's) tell the peer to wait as ours do."""
        def admit_noted(peer: str) -> TaskRefusal | None:
            refusal = admit(peer)
            if refusal is not None:
                self.admission.told_to_wait(peer, refusal)
            return refusal

        return admit_noted

    def task_priority(self, peer: str) -> tuple[int, bool]:
        """(queue priority, preemptible) of a peer's tasks on the model (see Admission)."""
        return self.admission.task_priority(peer)

    def task_done(self, peer: str) -> None:
        self.admission.task_done(peer)

    def admit_ad(self, peer: str) -> bool:
        return self.admission.admit_ad(peer)

    def check_ad(self, peer: str, ad: CapabilityAd) -> bool:
        return self.admission.check_ad(peer, ad)

    def gossip_score_params(self) -> ScoreParams | None:
        """Gossipsub v1.1 scoring with reputation as the app-specific score (P6).

        py-libp2p gates single-topic publishes on the topic score only (P6 is left out),
        so banned peers' messages are also dropped by the pubsub blacklist and by
        ``admit_ad``; P6 still keeps them out of meshes and gossip (graylist).
        """
        if not self.enabled:
            return None
        book = self.book
        return ScoreParams(
            app_specific_score_fn=lambda pid: book.gossip_score(pid.to_base58()),
            p6_appl_slack_weight=1.0,
            gossip_threshold=-5.0,
            graylist_threshold=-50.0,
        )

    # ------------------------------------------------------------------ lifecycle
    def install(self, hooks: CollabHooksPort) -> None:
        """Hook into the Collaborator: exclusion, routing weight, verification after answers."""
        hooks.peer_allowed = self.should_ask
        hooks.peer_weight = self.routing_weight
        hooks.after_answer.append(self.after_answer)

    def judge_known_answer(self, peer: str, model: str, choices: int, right: bool, local_right: bool | None,
                           what: str) -> None:
        """A peer's answer to a question whose answer this node knows (idle learning): canary evidence."""
        if self.enabled and self.verification is not None and peer != self.peer_id:
            self.verification.record_known_answer(peer, model, choices, right, local_right, what)

    def after_answer(self, job: Job, answer: Answer) -> None:
        if self.verification is not None:
            self.verification.after_answer(job, answer)

    async def prepare(self, data_dir: Path) -> None:
        """Before the first ad: this identity's proof of work (solved once, then stored)."""
        if self.pow.difficulty_bits:
            self.pow_nonce = await load_or_solve_pow(data_dir, self.pow, self.peer_id)

    async def run(self, node: TrustPorts, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Background work: verification, opinions, ban enforcement, metrics. Needs a running host."""
        t = self.config.trust
        async with trio.open_nursery() as nursery:
            if self.enabled:
                self.verification = Verification(
                    self.ledger, self.metrics,
                    attempt=node.attempt,
                    candidates=node.candidates,
                    should_ask=self.should_ask,
                    backing_off=node.backing_off,
                    self_id=self.peer_id,
                    canary_rate=t.canary_rate,
                    cross_check_rate=t.cross_check_rate,
                    timeout_s=min(self.config.limits.request_timeout_s, 120.0),
                    baseline=self.baseline,
                    own_model=self._model,
                    run_local=lambda job: self._answer_locally(node, job),
                    on_outcome=self._emit_outcome,
                    probe_budget=ProbeBudget(),  # probes per minute bounded whatever N is
                    probe_share=ProbeShare(self.peer_id, vouched=self.vouched),  # k probers per newcomer, not N
                )
                await nursery.start(self.verification.run)
                if (t.canary_rate > 0 or t.probe_interval_s > 0) and t.canary_datasets:
                    nursery.start_soon(self._load_deck, node.data_dir)
                if t.probe_interval_s > 0:
                    nursery.start_soon(self.verification.probe_newcomers, t.probe_interval_s,
                                       node.idle, node.joined)
                self.enforcer = BanEnforcer(
                    self.book, self.metrics, self.global_trust, host=node.host,
                    pubsub=node.pubsub, forget_ad=node.forget_ad, forget_limits=self.admission.forget,
                )
                nursery.start_soon(self.enforcer.run)
            pubsub = node.pubsub()
            if pubsub is not None:
                self.opinions = OpinionGossip(
                    self.ledger, self.metrics, self.global_trust,
                    network=self.config.network, signer=node.signer, verifier=node.verifier,
                    admit=self.admission.admit_opinion, on_evidence=node.record_evidence,
                    interval_s=t.opinion_interval_s,
                )
                await nursery.start(self.opinions.run, pubsub, self.peer_id)
            nursery.start_soon(self._refresh_metrics)
            task_status.started()

    async def _answer_locally(self, node: TrustPorts, job: Job) -> TaskResult | None:
        """This node's model on one of its canaries, at LOCAL_CHECK_PRIORITY (None if refused).

        Preemptible, so a generation-shaped canary never holds the model while a user waits;
        one cut short (finish_reason "length") is not a verdict on the item: None.
        """
        request: TaskRequest = job.to_request(min(self.config.limits.request_timeout_s, 120.0))
        reply = await node.run_local(request, priority=LOCAL_CHECK_PRIORITY, preemptible=True)
        if not isinstance(reply, TaskResult) or (job.kind == "generate" and reply.finish_reason == "length"):
            return None
        return reply

    async def _load_deck(self, data_dir: Path) -> None:
        datasets = tuple(self.config.trust.canary_datasets)
        try:
            canaries = await trio.to_thread.run_sync(load_canaries, datasets)
        except Exception as exc:  # missing data must not stop the node: no canaries then
            log.warning("no canaries: cannot load validation data", extra={"datasets": ",".join(datasets), "error": str(exc)})
            return
        deck = CanaryDeck(canaries, data_dir / CANARY_FILE, self._model)
        if self.verification is not None:
            self.verification.restore_local(deck)
            self.verification.deck = deck
        log.info("canaries ready", extra={"items": len(deck), **deck.stats()})

    async def _refresh_metrics(self) -> None:
        while True:
            self.refresh_metrics()
            await trio.sleep(METRICS_REFRESH_S)

    def refresh_metrics(self) -> None:
        standings = {s.value: 0 for s in Standing}
        peers = list(self.book.peers())
        for peer in peers:
            standings[self.book.standing(peer).value] += 1
        for standing, count in standings.items():
            self.metrics.peers.labels(standing=standing).set(count)
        for peer in peers[:MAX_GAUGE_PEERS]:
            self.metrics.score.labels(peer=peer).set(round(self.book.score(peer), 4))
        values = self.opinions.values if self.opinions is not None else {}
        for peer, value in list(values.items())[:MAX_GAUGE_PEERS]:
            self.metrics.global_trust.labels(peer=peer).set(round(value, 6))

    # ------------------------------------------------------------------ reports
    def counters(self) -> dict[str, dict[str, float]]:
        """Totals of the trust counters, by label (for the API and the benchmark)."""
        out: dict[str, dict[str, float]] = {}
        for metric in self.registry.collect():
            if not metric.name.startswith("peermind_trust_") or metric.type != "counter":
                continue
            key = metric.name.removeprefix("peermind_trust_")
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    label = ",".join(f"{v}" for v in sample.labels.values()) or "all"
                    out.setdefault(key, {})[label] = sample.value
        return out

    def global_scores(self) -> dict[str, float]:
        return self.opinions.values if self.opinions is not None else {}

    def peer_row(self, peer: str) -> dict[str, object]:
        book = self.book
        exclusion = self.ledger.exclusions.get(peer)
        entry = self._board.get(peer) if self._board is not None else None
        models = entry.ad.models if entry is not None else []
        return {
            "peer": peer,
            "score": round(book.score(peer), 4),
            "standing": book.standing(peer).value,
            "routing_weight": round(self.routing_weight(peer), 4),
            "decision_score": round(self.decision_score(peer), 4),
            "canary_llr": round(book.canary_llr(peer), 4),
            "global_trust": round(self.global_scores().get(peer, 0.0), 6),
            "interactions": book.interactions(peer),
            "counts": {k.value: n for k, n in sorted(book.counts(peer).items())},
            "banned_until": book.ban_until(peer),
            "excluded": dataclasses.asdict(exclusion) if exclusion else None,
            "has_ad": entry is not None,
            "model": models[0].name if models else "",
        }

    def known_peers(self) -> list[str]:
        peers = set(self.book.peers()) | set(self.global_scores())
        if self._board is not None:
            peers |= {e.peer_id for e in self._board.fresh()}
        peers.discard(self.peer_id)
        return sorted(peers)

    def snapshot(self) -> dict[str, object]:
        """Everything ``peermind peers --trust`` shows, as JSON-ready data."""
        p = self.params
        deck = self.verification.deck if self.verification is not None else None
        return {
            "self": self.peer_id,
            "enabled": self.enabled,
            "thresholds": {"ask": p.ask_threshold, "ban": p.ban_threshold, "trusted": p.trusted_threshold,
                           "prior": round(p.prior_mean, 4), "probation_interactions": p.probation_interactions},
            "newcomer_weight": self.newcomer_weight,
            "model_baseline": [dataclasses.asdict(m) for m in self.baseline.stats()],
            "canary_rate": self.config.trust.canary_rate,
            "cross_check_rate": self.config.trust.cross_check_rate,
            "pre_trusted": sorted(self.global_trust.pre_trusted),
            "global_computed_at": self.opinions.computed_at if self.opinions is not None else None,
            "opinion_issuers": len(self.global_trust.issuers()),
            "canaries": deck.stats() if deck is not None else None,
            "replayed_rows": self.replayed,
            "counters": self.counters(),
            "peers": [self.peer_row(peer) for peer in self.known_peers()],
        }

    def resolve(self, text: str) -> str:
        """A full peer ID from an ID or a unique prefix of a known peer."""
        known = self.known_peers()
        if text in known:
            return text
        matches = [p for p in known if p.startswith(text)] if len(text) >= 4 else []
        if len(matches) == 1:
            return matches[0]
        raise PeerNotKnown(text, f"{len(matches)} known peers start with it" if matches else "")

    def explain(self, text: str) -> dict[str, object]:
        """Why a peer has its score: evidence per kind, recent records, global trust, limits."""
        peer = self.resolve(text)
        try:
            explanation: dict[str, object] = self.book.explain(peer).to_dict()
        except UnknownPeer:
            explanation = {"peer": peer, "score": self.book.score(peer), "standing": Standing.PROBATION.value,
                           "interactions": 0, "kinds": {}, "recent": []}
        try:
            rate, burst = self.admission.limiter.limits(peer, LimitKind.REQUEST)
            work_rate, work_burst = self.admission.limiter.limits(peer, LimitKind.WORK)
        except InvalidInput:
            rate, burst, work_rate, work_burst = 0.0, 0.0, 0.0, 0.0
        verification = self.verification
        gap = verification.calibration.gap(peer) if verification is not None else None
        explanation.update(
            self.peer_row(peer),
            thresholds={"ask": self.params.ask_threshold, "ban": self.params.ban_threshold,
                        "trusted": self.params.trusted_threshold, "prior": round(self.params.prior_mean, 4)},
            weights={k.value: w for k, w in self.params.weights.items()},
            violation_weights=dict(self.params.violation_weights),
            should_ask=self.should_ask(peer),
            request_allowance={"per_s": round(rate, 4), "burst": round(burst, 2)},
            work_allowance={"tokens_per_s": round(work_rate, 2), "burst": round(work_burst, 1)},
            requester_conduct={"ignored_retry_after": round(self.admission.conduct.ignored(peer), 3),
                               "factor": round(self.admission.conduct.factor(peer), 4)},
            calibration_gap=gap,
            opinion_held=self.global_trust.opinion_of(peer) is not None,
        )
        return explanation
