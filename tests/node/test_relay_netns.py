"""NAT traversal on real processes in Linux network namespaces (issue 18), through the CLI.

``peermind bench relay --rounds 1`` runs literally: the relay ``r`` (``node run --relay``),
and ``a``, ``b``, ``c`` each in a namespace that shares one link with ``r`` and none with
each other, so ``a`` has no route to ``b``. ``b`` sits behind a NAT of sorts: it listens on
an address nobody can route to and connects out from another one, so AutoNAT (asked of
``r``) tells it ``private``; it reserves a slot on ``r`` (``relay.via``) and its ad lists
only its ``/p2p-circuit`` address. Questions asked on ``a`` are answered by ``b`` through
``r`` (``peermind status`` on ``a``: path ``relay``); ``c`` also has a direct link to ``b``,
so its relayed connection is upgraded (DCUtR) and its answers come over the direct path.
``r``, ``a`` and ``c`` are light nodes (``--model none``); ``b`` runs SmolLM2 on one thread.
Skipped, with the reason, only where ``ip netns`` cannot be used (no root, no iproute2).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from peermind.testnet._netns import unavailable
from peermind.testnet._relay_net import peermind_cmd

WHY_NOT = unavailable()
pytestmark = [pytest.mark.skipif(WHY_NOT is not None, reason=f"network namespaces unavailable: {WHY_NOT}")]


def test_bench_relay_answers_through_the_relay_and_over_the_upgraded_direct_path(tmp_path: Path) -> None:
    out = tmp_path / "relay.json"
    done = subprocess.run(peermind_cmd("bench", "relay", "--rounds", "1", "--dir", str(tmp_path / "net"),
                                       "--out", str(out)), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    setup = result["setup"]
    assert setup["a_routes_to_b"] is False and setup["b_verdict"] == "private" and setup["b_reservation_held"] is True
    assert setup["r_reserved_here"] == 1 and all("/p2p-circuit/p2p/" in a for a in setup["b_ad_addrs"])
    assert result["paths_before"] == result["paths_after"] == {"a->b": "relay", "c->b": "direct"}
    assert result["summary"]["n"] == 1 and len(result["relayed_overhead_ms"]) == 1
    assert result["relayed_ms"][0] > result["relayed_overhead_ms"][0] > 0
    assert "Added by the relay" in done.stdout and out.with_suffix(".md").read_text() == done.stdout
