"""A ``wrong`` adversary in a real 3-node testnet is excluded after canaries; honest peers are not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from adversary_kit import row_of, running_testnet, trust_view  # noqa: E402
from peermind.bench import load_items, mc_context, mc_continuations  # noqa: E402
from peermind.node.client import NodeClient  # noqa: E402

pytestmark = pytest.mark.integration


def test_wrong_adversary_falls_below_do_not_ask_after_canaries(tmp_path: Path) -> None:
    with running_testnet(tmp_path, ["", "", "wrong"], extra=["--set", "trust.canary_rate=1.0"]) as nodes:
        entry, honest, liar = nodes
        excluded = None
        with NodeClient(entry.api) as client:
            # Up to 80 questions: canaries are paced by the probe budget (6/min per node), so how many
            # questions pass before the liar's wrong answers add up depends on the machine's speed; the
            # property checked is the number of its interactions before exclusion (<= 50, below).
            # Excluded (local score below the ask threshold) is not yet "not asked": while local evidence is
            # thin (fewer records than probation) decisions blend in global trust, so the loop goes on until
            # the decision is "not asked" too; both must come within 50 of its interactions.
            not_asked_after = None
            for item in load_items("arc_easy", "test", limit=80):
                _scores, provenance = client.score(mc_context(item), mc_continuations(item), mode="auto")
                assert provenance["answered_by"] != liar.peer_id  # its lure never wins an unproven peer traffic
                excluded = (row_of(trust_view(entry), liar.peer_id) or {}).get("excluded")
                if excluded:
                    why = client.trust_explain(liar.peer_id)
                    if not why["should_ask"]:
                        not_asked_after = why["interactions"]
                        break
        assert excluded is not None, "the wrong adversary was never excluded"
        assert excluded["interactions"] <= 50
        assert not_asked_after is not None and not_asked_after <= 50, f"still asked after {not_asked_after} records"
        view = trust_view(entry)
        liar_row = row_of(view, liar.peer_id)
        assert liar_row is not None and liar_row["standing"] in ("do_not_ask", "banned")
        # judged against its model's expected accuracy (canaries and idle-learning checks, on any validation
        # item: its runner-up pick is right now and then, 2 right of 4 in one run, 2 of 3 in another), a few
        # wrong answers are enough: one on an item its model should get right can end it (log-likelihood ratios
        # against its model's accuracy). How many of its 3-4 checked answers happened to be right is luck, so
        # only that wrong answers were recorded is asserted.
        counts = liar_row["counts"]
        assert counts["answer_wrong"] >= 1, counts
        honest_row = row_of(view, honest.peer_id)
        # an honest SmolLM2 peer misses some canaries too: its score may dip just under the newcomer 0.3
        # (0.273 after one miss), but it is never excluded nor put below the ask threshold
        assert honest_row is None or (honest_row["excluded"] is None
                                      and honest_row["standing"] not in ("do_not_ask", "banned")), honest_row

        # the CLI shows the same, through the node's API
        peers = subprocess.run([sys.executable, "-m", "peermind.node.cli", "peers", "--trust", "--json",
                                "--api", entry.api], capture_output=True, text=True, timeout=60, check=True)
        assert row_of(json.loads(peers.stdout), liar.peer_id)["standing"] == liar_row["standing"]
        explain = subprocess.run([sys.executable, "-m", "peermind.node.cli", "trust", "explain", liar.peer_id[:24],
                                  "--api", entry.api], capture_output=True, text=True, timeout=60, check=True)
        assert "NOT asked" in explain.stdout and "answer_wrong" in explain.stdout
