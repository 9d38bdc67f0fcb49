"""The trust endpoints and what ``peermind peers --trust`` / ``peermind trust explain`` print."""

from __future__ import annotations

from pathlib import Path

import pytest
from peermind.node.api.routes_trust import trust_routes
from peermind.node.config import load_config
from peermind.node.store import Store
from peermind.node.trust_cli import print_explanation, print_trust_peers
from peermind.node.trust_wiring import TrustWiring
from peermind.protocol import Signer
from peermind.trust import Evidence, EvidenceEvent, EvidenceRecord, ViolationKind, ViolationSource
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.testclient import TestClient

SELF, GOOD, BAD = Signer.generate(), Signer.generate(), Signer.generate()


@pytest.fixture
def wiring(tmp_path: Path) -> TrustWiring:
    config = load_config(env={}, overrides={"data_dir": str(tmp_path), "network": "testnet-api"})
    w = TrustWiring(config, Store.open(tmp_path / "node.db"), CollectorRegistry(), SELF.peer_id_b58)
    for _ in range(4):
        w.record(EvidenceRecord(GOOD.peer_id_b58, Evidence.ANSWER_RIGHT))
    for _ in range(3):
        w.observe(EvidenceEvent(BAD.peer_id_b58, Evidence.PROTOCOL_VIOLATION, "SchemaError: confidence must be <= 0",
                                ViolationKind.SCHEMA, ViolationSource.REPLY))
    return w


def test_endpoints_serve_the_overview_and_explanations(wiring: TrustWiring) -> None:
    client = TestClient(Starlette(routes=trust_routes(wiring)))
    overview = client.get("/peermind/trust").json()
    assert overview["self"] == SELF.peer_id_b58 and overview["enabled"] is True
    assert {r["peer"]: r["standing"] for r in overview["peers"]} == {
        GOOD.peer_id_b58: "probation", BAD.peer_id_b58: "do_not_ask"}
    explained = client.get(f"/peermind/trust/peers/{BAD.peer_id_b58}").json()
    assert explained["counts"] == {"protocol_violation": 3}
    assert explained["recent"][0]["detail"].startswith("schema: reply: SchemaError")
    missing = client.get("/peermind/trust/peers/12D3KooWnoSuchPeer")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "unknown_peer"


def test_cli_table_and_explanation_name_scores_standings_and_evidence(
    wiring: TrustWiring, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    print_trust_peers(wiring.snapshot(), as_json=False)
    table = capsys.readouterr().out
    assert BAD.peer_id_b58 in table and "do_not_ask" in table and "violation 3" in table
    assert "canary+ 4" in table and "3 records" in table
    print_explanation(wiring.explain(BAD.peer_id_b58), as_json=False)
    text = capsys.readouterr().out
    assert "standing do_not_ask" in text and "NOT asked" in text
    assert "protocol_violation" in text and "(-4)" not in text.split("by kind")[0]
    assert "first fell to do_not_ask after 3 records" in text
