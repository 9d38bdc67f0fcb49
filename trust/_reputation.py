"""The reputation book: decayed Beta reputation, standing, bans and explanations.

Formula (all masses decayed to "now" with half-life H)::

    P = sum of |w| * 2**(-(now - t)/H) over positive-weight records
    N = same over negative-weight records
    (P + N is capped at max_evidence_mass by scaling both: a bounded memory)
    score = (alpha0 + P) / (alpha0 + beta0 + P + N)

(alpha0, beta0) is the newcomer prior: a fresh identity scores
alpha0/(alpha0+beta0) = 0.30 with defaults, so minting a new identity never
buys trust. With no new evidence the score relaxes back towards the prior.

Canary verdicts judged by the sequential test (records with ``llr``, see _sprt.py)
do not add mass: their sum L (decayed alike, clamped to the params' bounds) shifts
the score in log-odds::

    score = sigmoid(logit(beta_score) + shift(L))      (beta_score capped at the prior while L < 0)

with shift from ``TrustParams.llr_shift`` (-canary_reject_llr: a newcomer at the
ask threshold; +canary_accept_llr: at the trusted threshold). A Beta ratio alone
cannot tell "honest at 25%" from "dishonest at 6%" (its score follows the share
of good evidence, not how much of it there is); the sum does, given enough canaries.
A positive sum is ignored while the peer carries abuse mass (protocol violations,
floods): right answers buy no forgiveness for forged messages.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ._errors import InvalidInput, UnknownPeer
from ._evidence import Evidence, EvidenceRecord
from ._params import TrustParams
from ._peer_state import PeerState, decay_factor

__all__ = ["CHECKED_KINDS", "Explanation", "KindSummary", "ReputationBook", "Standing"]

ABUSE_KINDS = (Evidence.PROTOCOL_VIOLATION, Evidence.FLOOD)
CHECKED_KINDS = frozenset({
    Evidence.ANSWER_RIGHT, Evidence.ANSWER_WRONG, Evidence.CROSS_CHECK_AGREE,
    Evidence.CROSS_CHECK_DISAGREE, Evidence.CONFIDENCE_MISCALIBRATED,
})
"""Evidence about whether a peer's answers are right: what opinions for global trust rest on
(canary LLRs count as well). Timing, refusals and training updates say nothing about it."""

ABUSE_MASS_IGNORED = 0.5
"""Decayed abuse mass below which a peer's positive canary sum counts again (a -8 forged
signature falls below it after four half-lives)."""


class Standing(StrEnum):
    """What the node should do with a peer, from most to least welcome."""

    TRUSTED = "trusted"
    """Past probation and score >= trusted_threshold."""
    OK = "ok"
    """Past probation, askable."""
    PROBATION = "probation"
    """Fewer than probation_interactions records: askable, but not proven."""
    DO_NOT_ASK = "do_not_ask"
    """Score below ask_threshold: keep the connection, send it no work."""
    BANNED = "banned"
    """Fell below ban_threshold: disconnect until the cool-down ends (see ban_until)."""


@dataclass(frozen=True, slots=True)
class KindSummary:
    """Per-kind view for explain(): raw count and masses decayed to now."""

    count: int
    positive_mass: float
    negative_mass: float


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a peer has its score: the numbers behind ``peermind trust explain``."""

    peer: str
    score: float
    standing: Standing
    interactions: int
    positive_mass: float
    negative_mass: float
    prior_alpha: float
    prior_beta: float
    first_seen: float
    last_seen: float
    banned_until: float | None
    ban_count: int
    kinds: Mapping[Evidence, KindSummary]
    recent: tuple[EvidenceRecord, ...]
    canary_llr: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (kinds keyed by kind string, recent as evidence rows)."""
        return {
            "peer": self.peer,
            "score": self.score,
            "standing": self.standing.value,
            "interactions": self.interactions,
            "positive_mass": self.positive_mass,
            "negative_mass": self.negative_mass,
            "prior_alpha": self.prior_alpha,
            "prior_beta": self.prior_beta,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "banned_until": self.banned_until,
            "ban_count": self.ban_count,
            "kinds": {
                k.value: {
                    "count": s.count,
                    "positive_mass": s.positive_mass,
                    "negative_mass": s.negative_mass,
                }
                for k, s in self.kinds.items()
            },
            "recent": [r.to_row() for r in self.recent],
            "canary_llr": self.canary_llr,
        }


class ReputationBook:
    """Local reputation of every peer this node has evidence about.

    Pure logic: the node calls :meth:`record` where it learns something,
    queries :meth:`should_ask` / :meth:`is_banned` / :meth:`score`, and persists
    :meth:`snapshot` rows (restored with :meth:`load`). ``now`` returns unix
    seconds; records dated in the future are clamped to ``now()`` so they cannot
    dodge decay.
    """

    def __init__(
        self, params: TrustParams | None = None, now: Callable[[], float] = time.time
    ) -> None:
        self.params = params if params is not None else TrustParams()
        self._now = now
        self._peers: dict[str, PeerState] = {}

    # -- recording ----------------------------------------------------------------------
    def record(self, ev: EvidenceRecord) -> float:
        """Add one piece of evidence and return the peer's new score.

        New negative evidence that leaves the score below ban_threshold bans
        the peer for ban_cooldown_s, doubling with every further ban.
        """
        if not isinstance(ev, EvidenceRecord):
            raise InvalidInput(f"record() takes an EvidenceRecord, got {type(ev).__name__}")
        now = self._now()
        at = min(ev.at, now)
        weight = 0.0 if ev.llr is not None else self.params.weight_of(ev)
        state = self._peers.get(ev.peer)
        if state is None:
            state = PeerState(peer=ev.peer, as_of=at, first_seen=at, last_seen=at)
            self._peers[ev.peer] = state
        p = self.params
        state.add(ev, weight, at, p.half_life_s, p.max_evidence_mass, p.recent_events, p.llr_bounds)
        score = self._score_of(state, now)
        negative = weight < 0 or (ev.llr is not None and ev.llr < 0)
        if negative and score < p.ban_threshold and state.banned_until <= now:
            state.ban_count += 1
            length = min(p.ban_cooldown_s * 2 ** (state.ban_count - 1), p.max_ban_s)
            state.banned_until = now + length
        return score

    def record_many(self, records: Iterable[EvidenceRecord]) -> None:
        """Record several pieces of evidence in order."""
        for ev in records:
            self.record(ev)

    # -- queries ------------------------------------------------------------------------
    def now(self) -> float:
        """The book's clock (unix seconds)."""
        return self._now()

    def score(self, peer: str) -> float:
        """Decayed Beta reputation in (0, 1); the newcomer prior for unknown peers."""
        state = self._peers.get(peer)
        if state is None:
            return self.params.prior_mean
        return self._score_of(state, self._now())

    def standing(self, peer: str) -> Standing:
        """Banned > do_not_ask > probation > trusted > ok, checked in that order."""
        state = self._peers.get(peer)
        if state is None:
            return Standing.PROBATION
        now = self._now()
        if state.banned_until > now:
            return Standing.BANNED
        score = self._score_of(state, now)
        p = self.params
        if score < p.ask_threshold:
            return Standing.DO_NOT_ASK
        if state.interactions < p.probation_interactions:
            return Standing.PROBATION
        if score >= p.trusted_threshold:
            return Standing.TRUSTED
        return Standing.OK

    def should_ask(self, peer: str) -> bool:
        """True unless the peer is do_not_ask or banned."""
        return self.standing(peer) not in (Standing.DO_NOT_ASK, Standing.BANNED)

    def is_banned(self, peer: str) -> bool:
        """True while the peer's ban cool-down runs: disconnect it and refuse its streams."""
        state = self._peers.get(peer)
        return state is not None and state.banned_until > self._now()

    def ban_until(self, peer: str) -> float | None:
        """Unix time the current ban ends, or None if the peer is not banned."""
        state = self._peers.get(peer)
        if state is None or state.banned_until <= self._now():
            return None
        return state.banned_until

    def interactions(self, peer: str) -> int:
        """Number of evidence records ever recorded about the peer (not decayed)."""
        state = self._peers.get(peer)
        return 0 if state is None else state.interactions

    def counts(self, peer: str) -> dict[Evidence, int]:
        """Raw record count per evidence kind (empty for unknown peers)."""
        state = self._peers.get(peer)
        return {} if state is None else dict(state.counts)

    def peers(self) -> Iterator[str]:
        """Peers with at least one record."""
        return iter(list(self._peers))

    def __contains__(self, peer: object) -> bool:
        return peer in self._peers

    def __len__(self) -> int:
        return len(self._peers)

    def explain(self, peer: str) -> Explanation:
        """Score, standing and the evidence behind them; UnknownPeer if nothing is recorded."""
        state = self._peers.get(peer)
        if state is None:
            raise UnknownPeer(peer, self.params.prior_mean)
        now = self._now()
        factor = decay_factor(now - state.as_of, self.params.half_life_s)
        kinds = {
            kind: KindSummary(
                count=state.counts.get(kind, 0),
                positive_mass=state.positive.get(kind, 0.0) * factor,
                negative_mass=state.negative.get(kind, 0.0) * factor,
            )
            for kind in Evidence
            if kind in state.counts
        }
        pos, neg = state.masses_at(now, self.params.half_life_s)
        return Explanation(
            peer=peer,
            score=self._score_of(state, now),
            standing=self.standing(peer),
            interactions=state.interactions,
            positive_mass=pos,
            negative_mass=neg,
            prior_alpha=self.params.prior_alpha,
            prior_beta=self.params.prior_beta,
            first_seen=state.first_seen,
            last_seen=state.last_seen,
            banned_until=self.ban_until(peer),
            ban_count=state.ban_count,
            kinds=kinds,
            recent=tuple(state.recent),
            canary_llr=state.llr_at(now, self.params.half_life_s),
        )

    def gossip_score(self, peer: str) -> float:
        """App-specific gossipsub score: negative for do_not_ask/banned, small positive if trusted.

        Wire it as ``ScoreParams(app_specific_score_fn=lambda pid:
        book.gossip_score(pid.to_base58()), p6_appl_slack_weight=1.0, ...)``.
        """
        standing = self.standing(peer)
        p = self.params
        if standing is Standing.BANNED:
            return p.gossip_banned
        if standing is Standing.DO_NOT_ASK:
            return p.gossip_do_not_ask
        if standing is Standing.TRUSTED:
            return p.gossip_trusted
        return 0.0

    def local_opinions(self) -> dict[str, float]:
        """This node's normalised local trust for EigenTrust (sums to 1, or empty).

        Opinions rest on CHECKED answers only (``CHECKED_KINDS``: canary and known-answer
        verdicts, cross-checks, confidence claims), never on liveness: a liar that answers
        every task on time earns task_ok mass, and an opinion built on it would vouch for
        the liar across the network at start-up, before any canary judged it. Only peers
        whose checked score beats the newcomer prior (and are not banned) get a share,
        proportional to score - prior: vouching for a fresh Sybil would hand it global
        trust for free.
        """
        now = self._now()
        prior = self.params.prior_mean
        raw: dict[str, float] = {}
        for peer, state in self._peers.items():
            if state.banned_until > now:
                continue
            excess = self._score_of(state, now, kinds=CHECKED_KINDS) - prior
            if excess > 0:
                raw[peer] = excess
        total = sum(raw.values())
        return {peer: value / total for peer, value in sorted(raw.items())} if total > 0 else {}

    def checked_score(self, peer: str) -> float:
        """The score from checked answers alone (what opinions rest on); the prior for unknown peers."""
        state = self._peers.get(peer)
        return self.params.prior_mean if state is None else self._score_of(state, self._now(), kinds=CHECKED_KINDS)

    # -- persistence --------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """One flat row per peer (see PeerState.to_row), sorted by peer ID."""
        return [self._peers[p].to_row() for p in sorted(self._peers)]

    def load(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the book's content with snapshot rows; all-or-nothing on a bad row."""
        loaded: dict[str, PeerState] = {}
        for row in rows:
            state = PeerState.from_row(row)
            loaded[state.peer] = state
        self._peers = loaded

    def prune(self, idle_s: float) -> list[str]:
        """Forget peers unseen for ``idle_s`` and not banned.

        Pick ``idle_s`` several half-lives long so forgotten scores were back
        near the prior anyway. Bounds memory when many short-lived identities pass by; returns the
        forgotten peer IDs so the node can delete their rows.
        """
        now = self._now()
        gone = [
            peer
            for peer, state in self._peers.items()
            if now - state.last_seen > idle_s and state.banned_until <= now
        ]
        for peer in gone:
            del self._peers[peer]
        return gone

    # -- internals ----------------------------------------------------------------------
    def _abuse_mass(self, state: PeerState, now: float) -> float:
        factor = decay_factor(now - state.as_of, self.params.half_life_s)
        return sum(state.negative.get(kind, 0.0) for kind in ABUSE_KINDS) * factor

    def canary_llr(self, peer: str) -> float:
        """The peer's canary test sum now (0 for unknown peers)."""
        state = self._peers.get(peer)
        return 0.0 if state is None else state.llr_at(self._now(), self.params.half_life_s)

    def _score_of(self, state: PeerState, now: float, kinds: Collection[Evidence] | None = None) -> float:
        p = self.params
        pos, neg = state.masses_at(now, p.half_life_s, kinds)
        beta = (p.prior_alpha + pos) / (p.prior_alpha + p.prior_beta + pos + neg)
        llr = state.llr_at(now, p.half_life_s)
        if llr > 0 and self._abuse_mass(state, now) > ABUSE_MASS_IGNORED:
            llr = 0.0  # right answers buy no forgiveness for forged messages or floods
        if llr == 0.0:
            return beta
        if llr < 0:  # failing the correctness test: liveness (cheap task_ok mass) cannot lift it
            beta = min(beta, p.prior_mean)
        return 1.0 / (1.0 + math.exp(-(math.log(beta / (1.0 - beta)) + p.llr_shift(llr))))
