"""A ``forger`` in a real 3-node testnet: every forged or replayed task is rejected and counted."""

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
TASK_ACTIONS = ("bad_signature_task", "replay_other_task", "replay_own_task")


def test_forged_and_replayed_messages_are_rejected_counted_and_the_forger_banned(tmp_path: Path) -> None:
    env = {"PEERMIND_FORGER_INTERVAL_S": "0.3"}
    with running_testnet(tmp_path, ["", "", "forger"], env=env) as nodes:
        honest, forger = nodes[:2], nodes[2]
        start_attack(forger)
        wait_for(lambda: adversary_counts(forger).get("replay_own_task:sent", 0) >= 4, 180, "forged traffic")
        stop_attack(forger)
        time.sleep(3.0)
        counts = adversary_counts(forger)
        sent = sum(counts.get(f"{a}:sent", 0) for a in TASK_ACTIONS)
        delivered = sent - sum(counts.get(f"{a}:undelivered", 0) for a in TASK_ACTIONS)
        answered = sum(counts.get(f"{a}:ACCEPTED", 0) for a in TASK_ACTIONS)
        assert sent >= 8 and answered == 0
        counted = turned_away = 0.0
        for node in honest:
            view = trust_view(node)
            # once banned, the forger's streams are reset unread (a typed refusal every 30 s)
            turned_away += view["counters"].get("refusals", {}).get("untrusted_reset", 0.0)
            for label, value in view["counters"].get("violations", {}).items():
                kind, _, source = label.partition(",")
                if source == "request":
                    assert kind in ("bad_signature", "replay")
                    counted += value
            row = row_of(view, forger.peer_id)
            assert row is not None and row["standing"] == "banned"
            assert all(r["excluded"] is None for r in view["peers"] if r["peer"] != forger.peer_id)
        # every delivered forgery was counted as evidence or, after the ban, turned away unread
        # (turned-away streams also include the forger's honest-looking originals, hence >=)
        assert counted <= delivered <= counted + turned_away, counts
        assert counted >= 1
        # forged and replayed ads: rejected on delivery (then the forger is disconnected and blacklisted)
        assert counts.get("forged_ad:sent", 0) >= 1 and counts.get("replay_other_ad:sent", 0) >= 1
