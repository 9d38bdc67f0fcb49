"""Feedback rows' role and split: one decoder, one split rule, and the migration of old stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from peermind.node.errors import StoreError
from peermind.node.labelled_rows import held_out, labels_of
from peermind.node.store import _MIGRATIONS, DB_FILENAME, Store


def test_packed_legacy_modes_decode_to_mode_role_and_split() -> None:
    assert labels_of("vote:dissent") == labels_of("vote", "dissent")
    assert labels_of("cascade:other").role == "other"
    assert labels_of("seed").split == "train" and labels_of("seed:validation").split == "validation"
    assert labels_of("seed:validation").mode == "seed:validation"  # seeding reads its modes back
    assert labels_of("route") == labels_of("route", "answer", None)
    assert labels_of("probe:weird").mode == "probe:weird"  # not a role: left alone


def test_one_split_rule_own_split_first_then_a_stable_hash() -> None:
    assert held_out("q", "validation") and not held_out("q", "train", fraction=0.99)
    hashed = [held_out(f"q{i}", None, 0.2) for i in range(2000)]
    assert 0.15 < sum(hashed) / len(hashed) < 0.25
    assert hashed == [held_out(f"q{i}", None, 0.2) for i in range(2000)]


def test_a_version_1_store_is_migrated_with_roles_and_splits_unpacked(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    for statement in _MIGRATIONS[0]:
        conn.execute(statement)
    blob = np.ones(4, "<f4").tobytes()
    for mode in ("vote:dissent", "route", "seed", "seed:validation", "cascade:other"):
        conn.execute("INSERT INTO feedback (query_embedding, mode, created_at) VALUES (?, ?, 0)", (blob, mode))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store.open(tmp_path / DB_FILENAME) as store:
        rows = {(r.mode, r.role, r.split) for r in store.feedback_rows()}
    assert rows == {("vote", "dissent", None), ("route", "answer", None), ("seed", "answer", "train"),
                    ("seed:validation", "answer", "validation"), ("cascade", "other", None)}


def test_new_rows_carry_their_role_and_bad_labels_are_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path / DB_FILENAME) as store:
        store.add_feedback(query_embedding=np.ones(4), mode="moa", role="dissent")
        store.add_feedback(query_embedding=np.ones(4), mode="learn", split="validation", correct=True)
        assert {(r.mode, r.role, r.split) for r in store.feedback_rows()} == {
            ("moa", "dissent", None), ("learn", "answer", "validation")}
        assert store.count_labelled_feedback() == 1 and len(store.labelled_feedback_rows()) == 1
        with pytest.raises(StoreError):
            store.add_feedback(query_embedding=np.ones(4), mode="route", role="boss")
