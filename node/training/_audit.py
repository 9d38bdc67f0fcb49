"""What each participant actually sent back, read from the bytes at the transport.

Feedback rows must never leave a node: a reply should hold the router's
arrays and aggregate metrics and nothing else. The coordinator decodes every
reply it receives and keeps a summary of its records (names, array shapes,
metric keys, sizes) per round and peer, shown in the run status, so an
operator (and the integration tests) can check the claim on real traffic.
"""

from __future__ import annotations

import threading

from peermind.federated import FederatedError


def describe_reply(payload: bytes) -> dict[str, object]:
    """Summary of a serialised Flower reply: record kinds, names, shapes, metric keys."""
    from peermind.federated import message_from_bytes  # Flower: only once a run has replies

    summary: dict[str, object] = {"bytes": len(payload)}
    try:
        msg = message_from_bytes(payload)
    except FederatedError as exc:
        summary["malformed"] = str(exc)
        return summary
    summary["message_type"] = msg.metadata.message_type
    if msg.has_error():
        summary["error"] = msg.error.reason[:200]
        return summary
    content = msg.content
    summary["arrays"] = {
        name: {key: list(record[key].shape) for key in record.keys()}
        for name, record in content.array_records.items()
    }
    summary["metrics"] = {name: sorted(record.keys()) for name, record in content.metric_records.items()}
    summary["configs"] = {name: sorted(record.keys()) for name, record in content.config_records.items()}
    return summary


class WireAudit:
    """Per round, per peer: the summaries of the replies received (thread-safe)."""

    def __init__(self, max_rounds: int = 64) -> None:
        self._lock = threading.Lock()
        self._max_rounds = max_rounds
        self._rounds: dict[int, dict[str, list[dict[str, object]]]] = {}

    def observe(self, server_round: int, peer: str, payload: bytes) -> None:
        summary = describe_reply(payload)
        with self._lock:
            if server_round not in self._rounds and len(self._rounds) >= self._max_rounds:
                return
            self._rounds.setdefault(server_round, {}).setdefault(peer, []).append(summary)

    def add(self, server_round: int, peer: str, summary: dict[str, object]) -> None:
        """Record a summary made elsewhere (the deployment engine's ServerApp process)."""
        with self._lock:
            if server_round not in self._rounds and len(self._rounds) >= self._max_rounds:
                return
            self._rounds.setdefault(server_round, {}).setdefault(peer, []).append(summary)

    def to_json(self) -> dict[str, dict[str, list[dict[str, object]]]]:
        with self._lock:
            return {str(r): {p: list(s) for p, s in peers.items()} for r, peers in self._rounds.items()}
