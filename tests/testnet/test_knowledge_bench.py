"""``peermind bench knowledge``, its pure parts: balanced questions, corpora on disk, the wire audit, goals.

The full run (4 real nodes, 45 SciQ questions, ~40 minutes on 2 loaded cores) is the
benchmark itself (docs/results/knowledge.md); here the audit is fed hand-made tap files.
"""

from __future__ import annotations

from pathlib import Path

from peermind.bench import Item
from peermind.protocol import frame_bytes
from peermind.testnet._knowledge_bench import (
    KnowledgeBenchResult,
    TopicItem,
    audit,
    balanced,
    learn_per_topic,
    learning_items,
    markdown,
    write_corpora,
)
from peermind.testnet._state import NodeInfo

SECRET = "Quenvar is the capital city of the planet Zorblax, on a purple glacier."
SHARED = "The oceans of the planet Tesmir are made of liquid copper, warm and bright."


def item(i: int, topic: int, support: str = "") -> TopicItem:
    it = Item(id=f"sciq/{i}", dataset="sciq", query=f"q{i}?", choices=("a", "b"), gold=0, answer=None, kind="mc")
    return TopicItem(it, support or f"Paragraph number {i} about topic {topic}, long enough to count as a sentence.", topic)


def test_balanced_interleaves_topics_and_corpora_hold_one_file_per_paragraph(tmp_path: Path) -> None:
    items = [item(i, i % 3) for i in range(10)]
    chosen = balanced(items, 2)
    assert [x.topic for x in chosen] == [0, 1, 2, 0, 1, 2]
    folders = write_corpora(items, tmp_path)
    assert [len(list(f.iterdir())) for f in folders] == [4, 3, 3]
    assert (folders[1] / "sciq-1.txt").read_text().startswith("Paragraph number 1")


def test_audit_counts_corpus_sentences_per_peer_and_leaks_only_where_sharing_is_forbidden(tmp_path: Path) -> None:
    items = [item(0, 0, SECRET), item(1, 1, SHARED), item(2, 2)]
    nodes = [NodeInfo(f"node-{i}", "", "", 100 + i, "m", peer_id=f"p{i}") for i in (1, 2, 3)]
    (tmp_path / "wire-101.tap").write_bytes(frame_bytes(b"citations only: d1#0"))
    (tmp_path / "wire-102.tap").write_bytes(frame_bytes(b"x" + SHARED.encode() + b"y") + frame_bytes(b"ad"))
    shares = {"p1": False, "p2": True, "p3": True}
    clean = audit(tmp_path, nodes, shares, items)
    assert clean["sentences_found_per_peer"] == {"node-1": 0, "node-2": 1, "node-3": 0}
    assert clean["leaked_passages"] == 0 and clean["frames_recorded"] == 3
    (tmp_path / "wire-101.tap").write_bytes(frame_bytes(SECRET.encode()))
    assert audit(tmp_path, nodes, shares, items)["leaked_passages"] == 1  # the audit can fail


def test_goals_and_report() -> None:
    r = KnowledgeBenchResult(questions=3, topic_sizes=[1, 1, 1], audit={"leaked_passages": 0})
    rows = {"single:a": [True, False, False], "oracle": [True, True, True], "route": [True, True, True],
            "consult": [True, True, False]}
    r.outcomes = {k: [{"correct": c, "cost": 0.1, "latency_ms": 5.0} for c in v] for k, v in rows.items()}
    goals = r.goals()
    assert goals["route_share_of_oracle"] == 1.0 and goals["route_over_best_single_pts"] == 66.7
    assert goals["route_gain_met"] and goals["audit_met"]
    text = markdown(r, "peermind bench knowledge")
    assert "| route | 100.0 (" in text and "| 0 | 0 | yes |" in text


def test_learning_questions_are_balanced_and_never_the_measured_ones() -> None:
    items = [item(i, i % 3) for i in range(30)]
    measured = balanced(items, 4)
    learned = learning_items(items, measured, learn_per_topic(4))
    assert learn_per_topic(15) == 10 and len(learned) == 3 * learn_per_topic(4)
    assert not {x.item.id for x in learned} & {x.item.id for x in measured}
    assert [x.topic for x in learned[:3]] == [0, 1, 2]


def test_ceilings_bound_what_any_router_over_these_peers_can_reach() -> None:
    r = KnowledgeBenchResult(questions=4, topic_sizes=[2, 1, 1])
    rows = {"single:a": [True, False, False, False], "single:b": [False, True, False, False],
            "route": [True, False, False, False], "consult": [False, False, True, False]}
    r.outcomes = {k: [{"correct": c, "cost": 0.0, "latency_ms": 1.0} for c in v] for k, v in rows.items()}
    assert r.ceilings() == {"best_peer_per_item_pct": 50.0, "any_strategy_pct": 75.0, "n": 4}
