"""Prometheus metrics of one node, in a registry of its own (tests run several nodes per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class NodeMetrics:
    """The node's Prometheus metrics, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.tasks_served = Counter("peermind_tasks_served_total", "Tasks this node ran for peers", ["outcome"], registry=r)
        self.asks = Counter("peermind_asks_total", "Questions asked through this node's API", ["mode", "outcome"], registry=r)
        self.ask_latency = Histogram("peermind_ask_seconds", "End-to-end latency of API questions", ["mode"], buckets=LATENCY_BUCKETS, registry=r)
        self.serve_latency = Histogram("peermind_task_seconds", "Time to run a peer's task locally", buckets=LATENCY_BUCKETS, registry=r)
        self.evidence = Counter("peermind_trust_evidence_total", "Trust evidence recorded about peers", ["kind"], registry=r)
        self.peers_fresh = Gauge("peermind_peers_fresh", "Peers with a fresh capability ad", registry=r)
        self.queue_depth = Gauge("peermind_queue_depth", "Tasks waiting or running on the local model", registry=r)
        self.ads_published = Gauge("peermind_ads_published", "Capability ads this node published", registry=r)

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
