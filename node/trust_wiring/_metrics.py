"""Prometheus metrics of the trust wiring, registered in the node's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["TrustMetrics"]


class TrustMetrics:
    """Counters for what trust rejected or decided, gauges for scores and standings."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.score = Gauge("peermind_trust_score", "Local reputation score of a peer (0..1)", ["peer"], registry=r)
        self.global_trust = Gauge("peermind_trust_global", "EigenTrust global trust of a peer (shares sum to 1)", ["peer"], registry=r)
        self.peers = Gauge("peermind_trust_peers", "Peers with evidence, by standing", ["standing"], registry=r)
        self.standing_changes = Counter("peermind_trust_standing_changes_total", "Peers entering a standing", ["standing"], registry=r)
        self.violations = Counter("peermind_trust_violations_total", "Rejected messages by violation kind (bad_signature, replay, schema, oversize) and where they came (request, reply, ad, opinion)", ["kind", "source"], registry=r)
        self.refusals = Counter("peermind_trust_refusals_total", "Task requests refused by trust (untrusted, rate_limited)", ["reason"], registry=r)
        self.dropped = Counter("peermind_trust_dropped_total", "Gossip messages dropped by trust", ["topic", "reason"], registry=r)
        self.canaries = Counter("peermind_trust_canaries_total", "Canaries by outcome (right, wrong, failed, unusable)", ["outcome"], registry=r)
        self.cross_checks = Counter("peermind_trust_cross_checks_total", "Cross-checks by outcome", ["outcome"], registry=r)
        self.opinions = Counter("peermind_trust_opinions_total", "Trust opinions published or received", ["outcome"], registry=r)
        self.disconnects = Counter("peermind_trust_disconnects_total", "Banned peers disconnected", registry=r)
