"""Feedback rows' role and split: one decoder, one split rule, and the migration of old stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from peermind.node.errors import StoreError
from peermind.node.labelled_rows import held_out
from peermind.node.store import _MIGRATIONS, DB_FILENAME, FeedbackRecord, Store, labelled_split

PACKED = ("vote:dissent", "route", "seed", "seed:validation", "seed:generate", "cascade:other", "probe:weird")


def old_store(path: Path, version: int, modes: tuple[str, ...] = PACKED) -> Path:
    """A node database as schema ``version`` wrote it, one feedback row per packed mode."""
    conn = sqlite3.connect(path / DB_FILENAME)
    for migration in _MIGRATIONS[:version]:
        for statement in migration:
            conn.execute(statement)
    blob = np.ones(4, "<f4").tobytes()
    for mode in modes:
        conn.execute("INSERT INTO feedback (query_embedding, mode, created_at) VALUES (?, ?, 0)", (blob, mode))
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    return path / DB_FILENAME


def test_packed_legacy_modes_migrate_to_mode_role_split_and_kind(tmp_path: Path) -> None:
    with Store.open(old_store(tmp_path, 1)) as store:
        rows = {(r.mode, r.role, r.split, r.kind) for r in store.feedback_rows()}
    assert rows == {("vote", "dissent", None, None), ("route", "answer", None, None), ("seed", "answer", "train", "score"),
                    ("seed", "answer", "validation", "score"), ("seed", "answer", "validation", "generate"),
                    ("cascade", "other", None, None), ("probe:weird", "answer", None, None)}  # not a role: left alone


def test_one_split_rule_own_split_first_then_a_stable_hash() -> None:
    assert held_out("q", "validation") and not held_out("q", "train", fraction=0.99)
    hashed = [held_out(f"q{i}", None, 0.2) for i in range(2000)]
    assert 0.15 < sum(hashed) / len(hashed) < 0.25
    assert hashed == [held_out(f"q{i}", None, 0.2) for i in range(2000)]


def test_a_version_1_store_is_migrated_with_roles_and_splits_unpacked(tmp_path: Path) -> None:
    with Store.open(old_store(tmp_path, 1, PACKED[:4] + PACKED[5:6])) as store:
        rows = {(r.mode, r.role, r.split) for r in store.feedback_rows()}
    assert rows == {("vote", "dissent", None), ("route", "answer", None), ("seed", "answer", "train"),
                    ("seed", "answer", "validation"), ("cascade", "other", None)}  # was "seed:validation": now unpacked


def test_a_version_3_store_seed_rows_get_plain_mode_and_their_kind(tmp_path: Path) -> None:
    path = old_store(tmp_path, 3, ())
    conn = sqlite3.connect(path)  # as version 3 wrote them: role and split unpacked, kind still in the mode
    blob = np.ones(4, "<f4").tobytes()
    for mode, split in (("seed", "train"), ("seed:validation", "validation"), ("seed:generate", "validation"),
                        ("outcome", None)):
        conn.execute("INSERT INTO feedback (query_embedding, mode, split, created_at) VALUES (?, ?, ?, 0)",
                     (blob, mode, split))
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        rows = sorted((r.mode, r.split or "", r.kind or "") for r in store.feedback_rows())
    assert rows == [("outcome", "", ""), ("seed", "train", "score"), ("seed", "validation", "generate"),
                    ("seed", "validation", "score")]


def test_new_rows_carry_their_role_and_bad_labels_are_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path / DB_FILENAME) as store:
        store.add_feedback(query_embedding=np.ones(4), mode="moa", role="dissent")
        store.add_feedback(query_embedding=np.ones(4), mode="learn", split="validation", correct=True)
        assert {(r.mode, r.role, r.split) for r in store.feedback_rows()} == {
            ("moa", "dissent", None), ("learn", "answer", "validation")}
        assert store.count_labelled_feedback() == 1 and len(store.labelled_feedback_rows()) == 1
        with pytest.raises(StoreError):
            store.add_feedback(query_embedding=np.ones(4), mode="route", role="boss")
        with pytest.raises(StoreError):
            store.add_feedback(query_embedding=np.ones(4), mode="seed", kind="chat")
        assert len(store.feedback_rows()) == 2  # a refused row leaves nothing behind


def test_seed_calibration_and_adoption_split_one_way() -> None:
    emb = np.full(384, 0.1, np.float32)
    rows = [FeedbackRecord(i, None, emb, f"q{i}", None, "smollm2", "route", True, None, None, None, 0.0)
            for i in range(200)]
    rows.append(FeedbackRecord(900, None, emb, "q1", None, "smollm2", "seed", True, None, None, None, 0.0,
                               split="validation"))
    train, validation = labelled_split(rows, 0.2, 384)
    assert {r.query_id for r in validation} == {f"q{i}" for i in range(200) if held_out(f"q{i}", None)} | {"q1"}
    assert len(train) + len(validation) == 201
