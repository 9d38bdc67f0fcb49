"""Candidates for a query: this node and every peer with a fresh ad, in one shape.

Routing policies compare candidates on what their signed ads claim (model, measured
speed, queue, cost, tags); keeping the local node in the same shape means "answer
locally" is just another candidate, not a special path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from peermind.protocol import CapabilityAd, KnowledgeSummary


@dataclass(frozen=True)
class Candidate:
    """A model the node could ask (its own or a peer's), with what its ad says of speed, load and price."""

    peer_id: str
    is_local: bool
    model: str
    family: str
    params_m: float
    gen_tps: float
    prompt_tps: float
    queue_depth: int
    max_queue: int
    max_concurrency: int
    cost_per_1k: float
    tags: tuple[str, ...]
    trust: float = 1.0
    """Routing weight from this node's reputation book, in [0, 1] (1: trusted, or this node)."""
    local_records: int = 1_000_000
    """Evidence records this node itself holds about the peer (others' opinions not counted)."""
    knowledge: KnowledgeSummary | None = field(default=None, compare=False)
    """The peer's corpus summary from its ad (knowledge peers); routing matches questions to it."""
    rtt_ms: float = 0.0
    """Measured round trip to the peer (node/p2p/rtt.py; 0 for this node and peers not measured yet)."""

    @classmethod
    def from_ad(cls, peer_id: str, ad: CapabilityAd, *, is_local: bool) -> Candidate:
        """The candidate a peer's capability ad describes."""
        model = ad.models[0]
        return cls(
            peer_id=peer_id,
            is_local=is_local,
            model=model.name,
            family=model.family,
            params_m=model.params_m,
            gen_tps=max(model.gen_tps, 1e-3),
            prompt_tps=max(model.prompt_tps, 1e-3),
            queue_depth=ad.queue_depth,
            max_queue=ad.max_queue,
            max_concurrency=max(ad.max_concurrency, 1),
            cost_per_1k=ad.cost_per_1k,
            tags=tuple(ad.tags),
            knowledge=ad.knowledge,
        )

    @property
    def saturated(self) -> bool:
        """Whether its queue is full (asking it now would only be refused)."""
        return self.queue_depth >= self.max_queue

    def estimate_latency_ms(self, prompt_tokens: int, max_tokens: int) -> float:
        """Queue wait plus prompt processing plus generation, from the ad's measured speeds,
        plus the measured round trip (a fast peer far away can be the slower answer)."""
        one_task_s = prompt_tokens / self.prompt_tps + max_tokens / self.gen_tps
        waiting = self.queue_depth / self.max_concurrency
        return (1 + waiting) * one_task_s * 1000 + self.rtt_ms

    def estimate_cost(self, prompt_tokens: int, max_tokens: int) -> float:
        """The price of a task of this size at its advertised rate."""
        return self.cost_per_1k * (prompt_tokens + max_tokens) / 1000

    @property
    def quality_prior(self) -> float:
        """Bigger models answer better on average: log-parameters is the cold-start prior."""
        return math.log10(max(self.params_m, 1.0))
