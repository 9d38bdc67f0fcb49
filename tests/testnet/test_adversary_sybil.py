"""A ``sybil`` process in a real testnet: fresh identities, each a real libp2p host with its own
key and proof of work, get their ads accepted through one process, ask within their own
allowances (no flood evidence against any), and the honest node's shared newcomer pool
turns the excess away with typed ``rate_limited`` refusals."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from adversary_kit import (  # noqa: E402
    adversary_counts,
    running_testnet,
    start_attack,
    stop_attack,
    trust_view,
    wait_for,
)

pytestmark = pytest.mark.integration

IDENTITIES = 6
MAX_TOKENS = 16
"""Short generations: each identity's pacing interval (its own allowance) shrinks with them
from 13.6 s to 4.6 s, so every identity asks within seconds, and a served one ends quickly."""


def test_sybil_identities_are_admitted_one_by_one_and_bounded_by_the_newcomer_pool(tmp_path: Path) -> None:
    with running_testnet(tmp_path, ["", "sybil"], env={"PEERMIND_SYBIL_IDENTITIES": str(IDENTITIES),
                                                          "PEERMIND_SYBIL_MAX_TOKENS": str(MAX_TOKENS)}) as nodes:
        honest, sybil = nodes
        # one light process, IDENTITIES + 1 peers on the honest node's board (each ad with its own PoW)
        wait_for(lambda: len(httpx.get(f"{honest.api_url}/peermind/peers", timeout=10).json()["peers"])
                 >= IDENTITIES + 1, 60, "the honest node to accept every sybil identity's ad")
        start_attack(sybil)
        wait_for(lambda: adversary_counts(sybil).get("requests", 0) >= IDENTITIES
                 and adversary_counts(sybil).get("result", 0) >= 1, 60, "a request from every identity, one served")
        stop_attack(sybil)
        time.sleep(2.0)
        counts = adversary_counts(sybil)
        assert counts["identities"] == IDENTITIES
        assert counts.get("refused:unadvertised", 0) + counts.get("refused:not_member", 0) <= IDENTITIES // 2
        status = httpx.get(f"{honest.api_url}/status", timeout=10).json()["membership"]
        pool = status["newcomer_pool"]
        assert pool["concurrent"] >= 1
        assert pool["work_rate"] == pytest.approx(0.1)  # the pool's work budget is on by default ...
        assert pool["uncharged"] >= 1  # ... and idle model time is not metered (nobody else wanted it then)
        assert isinstance(pool["contended"], bool)
        view = trust_view(honest)
        assert not any(row["counts"].get("flood") for row in view["peers"])  # no identity over its allowance
