"""The node's SQLite store, on real files: durability, migrations, full disks, concurrency."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from peermind.node.errors import StoreError, StoreFull, StoreVersionError
from peermind.node.store import DB_FILENAME, SCHEMA_VERSION, Store

TABLES = {"peers", "tasks", "feedback", "evidence", "training_rounds", "router_weights"}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / DB_FILENAME


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(db_path) as s:
        yield s


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _fill(store: Store) -> None:
    store.upsert_peer("peerA", seen_at=100.0, ad=b"\x81\xa1k\x01", addrs=["/ip4/1.2.3.4/tcp/1"])
    store.log_task(direction="out", status="ok", task_id="t1", peer="peerA", mode="route",
                   kind="chat", model="smollm2", prompt_tokens=12, completion_tokens=30,
                   latency_ms=850.5, cost=0.01, confidence=0.9, created_at=101.0)  # fmt: skip
    store.add_feedback(query_embedding=np.arange(4, dtype=np.float32), task_id="t1",
                       peer="peerA", model_key="smollm2", mode="route", correct=True,
                       cost=0.01, latency_ms=850.5, confidence=0.9, created_at=102.0)  # fmt: skip
    store.add_evidence(peer="peerA", kind="timeout", weight=2.0, detail="no answer", at=103.0)
    store.record_round(run_id="run1", round=1, role="client", participants=["peerA", "peerB"],
                       excluded=["peerC"], metrics={"loss": 0.5}, adopted=True, created_at=104.0)  # fmt: skip
    store.save_router_weights(b"\x00weights", {"dim": 4})


def test_new_database_is_wal_and_at_the_latest_schema(store: Store, db_path: Path) -> None:
    raw = _raw(db_path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert TABLES <= names
    raw.close()
    assert store.counts() == dict.fromkeys(TABLES, 0)


def test_data_survives_close_and_reopen(store: Store, db_path: Path) -> None:
    _fill(store)
    store.close()
    with Store.open(db_path) as again:
        assert again.counts() == dict.fromkeys(TABLES, 1)
        (peer,) = again.list_peers()
        assert (peer.peer_id, peer.last_ad, peer.addrs) == (
            "peerA", b"\x81\xa1k\x01", ("/ip4/1.2.3.4/tcp/1",)
        )  # fmt: skip
        (task,) = again.recent_tasks()
        assert (task.task_id, task.status, task.prompt_tokens, task.latency_ms) == (
            "t1", "ok", 12, 850.5
        )  # fmt: skip
        (fb,) = again.feedback_rows()
        assert fb.query_embedding.dtype == np.float32
        np.testing.assert_array_equal(fb.query_embedding, [0, 1, 2, 3])
        assert fb.correct is True and fb.model_key == "smollm2"
        (ev,) = again.evidence_rows()
        assert (ev.peer, ev.kind, ev.weight, ev.detail, ev.at) == (
            "peerA", "timeout", 2.0, "no answer", 103.0
        )  # fmt: skip
        (rnd,) = again.rounds()
        assert rnd.participants == ("peerA", "peerB") and rnd.excluded == ("peerC",)
        assert rnd.metrics == {"loss": 0.5} and rnd.adopted is True
        weights = again.active_router_weights()
        assert weights is not None
        assert (weights.version, weights.blob, weights.schema) == (1, b"\x00weights", {"dim": 4})


def test_peer_upsert_keeps_first_seen_and_only_replaces_what_is_given(store: Store) -> None:
    store.upsert_peer("p", seen_at=10.0, ad=b"ad1", addrs=["/ip4/1.1.1.1/tcp/1"])
    store.upsert_peer("p", seen_at=20.0)
    store.upsert_peer("p", seen_at=15.0, ad=b"ad2")  # late arrival: last_seen stays 20
    (p,) = store.list_peers()
    assert (p.first_seen, p.last_seen, p.last_ad, p.addrs) == (
        10.0, 20.0, b"ad2", ("/ip4/1.1.1.1/tcp/1",)
    )  # fmt: skip
    store.upsert_peer("q", seen_at=30.0)
    assert [r.peer_id for r in store.list_peers()] == ["q", "p"]
    assert [r.peer_id for r in store.list_peers(since=25.0)] == ["q"]


def test_bad_rows_are_typed_errors_and_write_nothing(store: Store) -> None:
    with pytest.raises(StoreError, match="status must be one of"):
        store.log_task(direction="out", status="great")
    with pytest.raises(StoreError, match="direction"):
        store.log_task(direction="sideways", status="ok")
    with pytest.raises(StoreError, match="finite"):
        store.add_feedback(query_embedding=[1.0, float("nan")])
    with pytest.raises(StoreError, match="vector of numbers"):
        store.add_feedback(query_embedding=["a", "b"])  # type: ignore[list-item]
    with pytest.raises(StoreError, match="JSON"):
        store.record_round(run_id="r", round=1, role="client", metrics={"x": object()})
    with pytest.raises(StoreError, match="limit"):
        store.recent_tasks(-1)
    assert sum(store.counts().values()) == 0


def test_task_log_and_feedback_queries(store: Store) -> None:
    for i in range(5):
        store.log_task(direction="in", status="ok", task_id=f"t{i}", created_at=float(i))
    assert [t.task_id for t in store.recent_tasks(3)] == ["t4", "t3", "t2"]
    ids = [
        store.add_feedback(query_embedding=b"\x00\x00\x80?", created_at=float(i)) for i in range(3)
    ]
    assert len(store.feedback_rows()) == 3 and len(store.feedback_rows(limit=2)) == 2
    assert store.feedback_rows()[0].correct is None
    assert store.mark_feedback(ids[0], False) is True
    assert store.mark_feedback(10_000, True) is False
    assert store.feedback_rows()[-1].correct is False
    assert store.feedback_rows()[-1].query_embedding.tolist() == [1.0]


def test_evidence_filters_and_order(store: Store) -> None:
    store.add_evidence(peer="b", kind="refusal", at=3.0)
    store.add_evidence(peer="a", kind="timeout", at=2.0)
    store.add_evidence(peer="a", kind="bad_signature", at=5.0, weight=5.0)
    assert [(e.peer, e.at) for e in store.evidence_rows()] == [("a", 2.0), ("b", 3.0), ("a", 5.0)]
    assert [e.kind for e in store.evidence_rows(peer="a")] == ["timeout", "bad_signature"]
    assert [e.kind for e in store.evidence_rows(peer="a", since=3.0)] == ["bad_signature"]
    assert store.evidence_rows(peer="a")[0].weight == 1.0  # default weight


def test_rounds_are_upserted_per_run_round_role(store: Store) -> None:
    store.record_round(run_id="r", round=1, role="client", created_at=1.0)
    store.record_round(run_id="r", round=1, role="client", adopted=True, metrics={"acc": 0.7})
    store.record_round(run_id="r", round=1, role="server", created_at=2.0)
    store.record_round(run_id="r", round=2, role="client", created_at=3.0)
    rounds = store.rounds()
    assert [(r.round, r.role) for r in rounds] == [(2, "client"), (1, "server"), (1, "client")]
    assert rounds[-1].adopted is True and rounds[-1].metrics == {"acc": 0.7}
    assert len(store.rounds(limit=1)) == 1


def test_router_weights_one_active_version_and_bounded_history(store: Store) -> None:
    assert store.active_router_weights() is None
    v1 = store.save_router_weights(b"one")
    v2 = store.save_router_weights(b"two", activate=False)
    active = store.active_router_weights()
    assert active is not None and active.version == v1 == 1 and v2 == 2
    for i in range(6):
        store.save_router_weights(f"w{i}".encode(), keep=2)
    active = store.active_router_weights()
    assert active is not None and active.blob == b"w5"
    assert store.counts()["router_weights"] == 3  # the active one + 2 newest inactive
    with pytest.raises(StoreError):  # explicit version that already exists
        store.save_router_weights(b"dup", version=active.version)
    again = store.active_router_weights()
    assert again is not None and again.blob == b"w5"  # the failed save changed nothing


def test_migrates_an_empty_file(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    with Store.open(db_path) as s:
        s.log_task(direction="out", status="timeout", reason="no bids")
        assert s.counts()["tasks"] == 1
    raw = _raw(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def test_refuses_a_database_from_a_newer_peermind(db_path: Path) -> None:
    Store.open(db_path).close()
    raw = _raw(db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreVersionError, match="upgrade peermind") as info:
        Store.open(db_path)
    assert isinstance(info.value, StoreError) and str(db_path) in str(info.value)


def test_refuses_a_file_that_is_not_a_database(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StoreError, match="not a peermind database"):
        Store.open(db_path)


def test_full_disk_is_a_typed_error_and_reads_keep_working(db_path: Path) -> None:
    with Store.open(db_path, max_db_bytes=40 * 4096) as s:
        written = 0
        with pytest.raises(StoreFull, match="disk full") as info:
            for i in range(200):
                s.add_feedback(query_embedding=np.full(1024, i, dtype=np.float32))
                written += 1
        assert isinstance(info.value, StoreError)
        assert 0 < written < 200
        assert s.counts()["feedback"] == written  # the failed write was rolled back
        assert len(s.feedback_rows(limit=5)) == 5
        with pytest.raises(StoreFull):  # still full, still a typed error
            s.add_feedback(query_embedding=np.ones(1024, dtype=np.float32))
        s.log_task(direction="in", status="refused", reason="busy")  # small rows may still fit
    raw = _raw(db_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


def test_closed_store_raises(store: Store) -> None:
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.counts()
    with pytest.raises(StoreError, match="closed"):
        store.add_evidence(peer="p", kind="k")


def test_reader_snapshot_does_not_block_the_writer(store: Store, db_path: Path) -> None:
    """WAL: a long read transaction elsewhere neither blocks our commits nor sees them early."""
    store.log_task(direction="in", status="ok")
    reader = _raw(db_path)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 1
    store.log_task(direction="in", status="ok")  # would wait out busy_timeout without WAL
    assert reader.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 1  # its snapshot
    reader.execute("COMMIT")
    assert reader.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 2
    reader.close()


def test_concurrent_threads_and_connections(store: Store, db_path: Path) -> None:
    """Threads share one Store (as trio.to_thread callers do) while another connection reads."""
    per_thread, n_threads = 50, 4
    seen: list[int] = []
    done = threading.Event()

    def write(k: int) -> None:
        for i in range(per_thread):
            store.log_task(direction="out", status="ok", task_id=f"{k}-{i}")

    def read() -> None:
        with Store.open(db_path) as other:
            while not done.is_set():
                seen.append(other.counts()["tasks"])

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(k,)) for k in range(n_threads)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    reader.join()
    assert store.counts()["tasks"] == per_thread * n_threads
    assert seen == sorted(seen)  # committed rows never disappear
    assert len({t.task_id for t in store.recent_tasks(1000)}) == per_thread * n_threads


_WRITER = """
import sys
from pathlib import Path
from peermind.node.store import Store
store = Store.open(Path(sys.argv[1]))
i = 0
while True:
    store.log_task(direction="out", status="ok", task_id=f"t{i}", prompt_tokens=i)
    store.add_evidence(peer="p", kind="k", detail=str(i))
    print(i, flush=True)
    i += 1
"""


@pytest.mark.integration
def test_committed_rows_survive_kill_9_mid_writes(db_path: Path) -> None:
    Store.open(db_path).close()
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    confirmed: list[int] = []
    try:
        for line in child.stdout:
            confirmed.append(int(line))
            if len(confirmed) >= 300:
                break
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    confirmed += [int(x) for x in out.split()]
    assert child.returncode == -signal.SIGKILL
    assert len(confirmed) >= 300, err

    with Store.open(db_path) as s:
        task_ids = {t.task_id for t in s.recent_tasks(100_000)}
        details = {e.detail for e in s.evidence_rows()}
    assert {f"t{i}" for i in confirmed} <= task_ids
    assert {str(i) for i in confirmed} <= details
    raw = _raw(db_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
