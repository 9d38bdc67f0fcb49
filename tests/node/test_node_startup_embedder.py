"""A model node loads its query embedder before it goes on the network (daemon._load_query_embedder).

Loaded on its first labelled row instead, every node of a fresh network loaded it while the
ads still spread; a real `peermind node run` must be ready with it in memory, show the stage
with an estimate, and a light node must not pay for it until it is asked something.
"""

from __future__ import annotations

import json

import pytest
from nodeproc import NodeCluster

pytestmark = pytest.mark.integration


def test_a_model_node_is_ready_with_its_query_embedder_loaded(cluster: NodeCluster) -> None:
    node = cluster.start("a")
    embedder = node.get("/peermind/router").json()["embedder"]
    assert embedder["loaded"] is True and embedder["load_s"] > 0
    assert "loading the query embedder" in node.log_text()  # the stage, with its expected time
    timings = json.loads((node.data_dir / "timings.json").read_text())
    assert timings["load:query-embedder"] > 0  # the next start's estimate


def test_a_light_node_does_not_load_it_before_its_first_question(cluster: NodeCluster) -> None:
    node = cluster.start("light", extra=("--model", "none"))
    assert node.get("/peermind/router").json()["embedder"]["loaded"] is False
