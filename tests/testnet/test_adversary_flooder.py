"""A ``flooder`` in a real 3-node testnet gets typed ``rate_limited`` refusals, then ``untrusted`` ones."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from adversary_kit import (  # noqa: E402
    adversary_counts,
    row_of,
    running_testnet,
    start_attack,
    stop_attack,
    trust_view,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_flooder_is_rate_limited_with_typed_refusals_and_banned(tmp_path: Path) -> None:
    with running_testnet(tmp_path, ["", "", "flooder"], env={"PEERMIND_FLOOD_RATE": "20"}) as nodes:
        honest, flooder = nodes[:2], nodes[2]
        start_attack(flooder)
        wait_for(lambda: adversary_counts(flooder).get("requests", 0) >= 120, 90, "120 flood requests")
        stop_attack(flooder)
        time.sleep(3.0)
        counts = adversary_counts(flooder)
        assert counts.get("refused:rate_limited", 0) > 0
        assert counts.get("refused:untrusted", 0) > 0
        assert counts.get("result", 0) <= 0.05 * counts["requests"]  # almost nothing was executed
        for node in honest:
            view = trust_view(node)
            refusals = view["counters"].get("refusals", {})
            assert refusals.get("rate_limited", 0) > 0 and refusals.get("untrusted", 0) > 0
            assert refusals.get("rate_limited_reset", 0) > 0  # asking on while told to wait: reset unread
            assert refusals.get("untrusted_held", 0) > 0  # banned and asking on: held unread, then reset
            row = row_of(view, flooder.peer_id)
            assert row is not None and row["standing"] == "banned" and row["counts"]["flood"] >= 5
            assert row["excluded"]["interactions"] <= 50
            assert all(r["excluded"] is None for r in view["peers"] if r["peer"] != flooder.peer_id)
