"""The demo's warm-up: idle time in which the entry node judges its peers before the timed
questions.

A fresh node knows nothing about its peers; while idle it sends them canary questions
whose answers it knows (``trust.probe_interval_s``) and builds their reputation. The
warm-up waits until every peer is past probation or ``seconds`` have passed, printing
what the entry node thinks of each peer as it goes (read from ``GET /peermind/trust``).
"""

from __future__ import annotations

import time
from typing import Any

from peermind.node.client import NodeClient
from rich.console import Console

from ._demo_progress import Ticker

POLL_S = 2.0
REPORT_EVERY_S = 15.0


def warm_up(console: Console, client: NodeClient, names: dict[str, str], seconds: float) -> str:
    """Wait up to ``seconds`` for the entry node to judge its peers; the one-line outcome."""
    started = time.monotonic()
    ticker = Ticker(REPORT_EVERY_S)
    peers: list[dict[str, Any]] = []
    while True:
        peers = [p for p in client.trust()["peers"] if p["peer"] in names]
        waited = time.monotonic() - started
        judged = bool(peers) and all(p["standing"] != "probation" for p in peers)
        if judged or waited >= seconds:
            break
        if ticker.due():
            console.print(f"  {waited:3.0f}/{seconds:.0f} s, ~{seconds - waited:.0f} s left at most: {_standings(peers, names)}",
                          highlight=False, soft_wrap=True)
        time.sleep(min(POLL_S, max(0.0, seconds - waited)))
    console.print(f"  after {waited:.0f} s: {_standings(peers, names)}", highlight=False, soft_wrap=True)
    verdict = "every peer judged (past probation)" if judged else "some peers still on probation"
    return f"warm-up {waited:.0f} s (limit {seconds:.0f} s): {verdict}"


def _standings(peers: list[dict[str, Any]], names: dict[str, str]) -> str:
    if not peers:
        return "no peer known yet"
    parts = []
    for p in peers:
        counts = p.get("counts", {})
        parts.append(f"{names[p['peer']]} {p['standing']} (canaries {counts.get('answer_right', 0)} right, "
                     f"{counts.get('answer_wrong', 0)} wrong; score {p['score']:.2f}, routing weight {p['routing_weight']:.2f})")
    return "; ".join(parts)
