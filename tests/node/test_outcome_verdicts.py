"""Verdicts on answers (``task.outcome``): who may label what, and how a seed run reports them.

Pure logic with real envelopes and a real SQLite store; the network path is covered by
``test_seed_outcomes_network.py`` on real node processes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import trio
from collab_fakes import LARGE, SMALL, FakeEncoder, FakeNet, candidate, dead, fake_embedder
from peermind.bench import Item, mc_context
from peermind.node.collab.answer import Answer, Contribution
from peermind.node.collab.embedding import QueryEmbedder, query_text
from peermind.node.collab.errors import SeedDataInvalid
from peermind.node.collab.outcome_rows import VERDICT_MODE, AnswerLinks, served_job, verdict_outcome
from peermind.node.collab.seed import SeedPlan, SeedProgress, SeedRunner, item_job, user_items
from peermind.node.p2p.outcomes import (
    MAX_OUTCOMES,
    NOTICE_BURST,
    OutcomeService,
    ServedLedger,
    Verdict,
)
from peermind.node.p2p.streams import UnexpectedMessage
from peermind.node.p2p.tasks import TaskRefused, now_ms
from peermind.node.store import Store
from peermind.protocol import (
    ContinuationScore,
    Envelope,
    OutcomeEntry,
    Signer,
    TaskOutcome,
    TaskRefusal,
    TaskRequest,
    TaskResult,
    Verifier,
    seal,
)

ASKER = Signer.from_seed(b"A" * 32)
OTHER = Signer.from_seed(b"O" * 32)
WORKER = Signer.from_seed(b"W" * 32)
ITEM = Item("mine/1", "mine", "Which gas do plants take in?", ("oxygen", "carbon dioxide", "helium"), 1, None, "mc")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def request(task_id: bytes) -> TaskRequest:
    return item_job(ITEM).to_request(30.0, task_id=task_id)


def result(task_id: bytes) -> TaskResult:
    return TaskResult(task_id=task_id, scores=[ContinuationScore(logprob=-1.0, n_tokens=1)] * 3, model="gemma3-270m")


def notice(signer: Signer, *entries: tuple[bytes, bool]) -> Envelope:
    body = TaskOutcome(outcomes=[OutcomeEntry(task_id=t, correct=c) for t, c in entries])
    return Verifier().open(seal(signer, body, WORKER.peer_id_b58), expected_recipient=WORKER.peer_id_b58)


def service(clock: Clock) -> tuple[OutcomeService, list[Verdict]]:
    got: list[Verdict] = []
    return OutcomeService(got.append, now=clock), got


def test_ledger_hands_a_served_answer_once_to_its_asker_within_the_ttl() -> None:
    clock = Clock()
    ledger = ServedLedger(max_entries=2, ttl_s=60.0, now=clock)
    ledger.remember(ASKER.peer_id_b58, request(b"a" * 16), TaskRefusal(task_id=b"a" * 16, reason="busy"))
    assert len(ledger) == 0  # refusals are never labelled
    ledger.remember(ASKER.peer_id_b58, request(b"a" * 16), result(b"a" * 16))
    assert ledger.claim(b"a" * 16, OTHER.peer_id_b58) is None  # another requester's answer
    served = ledger.claim(b"a" * 16, ASKER.peer_id_b58)
    assert served is not None and served.result.model == "gemma3-270m"
    assert ledger.claim(b"a" * 16, ASKER.peer_id_b58) is None  # consumed
    for t in (b"b", b"c", b"d"):
        ledger.remember(ASKER.peer_id_b58, request(t * 16), result(t * 16))
    assert len(ledger) == 2 and ledger.claim(b"b" * 16, ASKER.peer_id_b58) is None  # oldest out
    clock.t += 61
    assert ledger.claim(b"d" * 16, ASKER.peer_id_b58) is None  # too old


async def test_notices_label_only_the_signers_own_tasks_and_are_metered() -> None:
    clock = Clock()
    svc, got = service(clock)
    svc.remember(ASKER.peer_id_b58, request(b"a" * 16), result(b"a" * 16))
    svc.remember(OTHER.peer_id_b58, request(b"b" * 16), result(b"b" * 16))
    assert await svc.handle(notice(ASKER, (b"a" * 16, True), (b"b" * 16, False), (b"z" * 16, True)),
                            ASKER.peer_id_b58) is None  # one-way: no reply frame
    assert [(v.served.request.task_id, v.correct, v.split) for v in got] == [(b"a" * 16, True, "train")]
    assert (svc.stats.accepted, svc.stats.rejected) == (1, 2)
    for _ in range(int(NOTICE_BURST)):
        await svc.handle(notice(OTHER, (b"y" * 16, True)), OTHER.peer_id_b58)
    await svc.handle(notice(OTHER, (b"b" * 16, True)), OTHER.peer_id_b58)
    assert svc.stats.rate_limited == 1 and len(got) == 1  # over the allowance: dropped unread
    clock.t += 1.0  # the allowance refills
    await svc.handle(notice(OTHER, (b"b" * 16, True)), OTHER.peer_id_b58)
    assert len(got) == 2 and got[1].served.requester == OTHER.peer_id_b58


async def test_other_messages_on_the_outcome_protocol_are_violations() -> None:
    svc, _ = service(Clock())
    wire = seal(ASKER, request(b"a" * 16), WORKER.peer_id_b58)
    with pytest.raises(UnexpectedMessage):
        await svc.handle(Verifier().open(wire), ASKER.peer_id_b58)


async def test_queued_verdicts_leave_in_batches_per_peer() -> None:
    svc, _ = service(Clock())
    for i in range(MAX_OUTCOMES + 4):
        svc.notify("peerA", i.to_bytes(16, "big"), i % 2 == 0)
    svc.notify("peerB", b"b" * 16, True, "validation")
    assert svc.pending == MAX_OUTCOMES + 5
    await svc.flush()  # not attached to a host: counted as failed sends, nothing raised
    assert svc.pending == 4 and svc.stats.send_failed == MAX_OUTCOMES + 1
    await svc.flush()
    assert svc.pending == 0


def test_a_verdict_becomes_the_workers_own_row_on_the_askers_exact_question() -> None:
    served = ServedLedger()
    served.remember(ASKER.peer_id_b58, request(b"a" * 16), result(b"a" * 16))
    answer = served.claim(b"a" * 16, ASKER.peer_id_b58)
    assert answer is not None
    row = verdict_outcome(Verdict(answer, False, "validation"), WORKER.peer_id_b58)
    assert query_text(row.job) == query_text(item_job(ITEM))  # the asker embedded the same text
    assert (row.peer, row.model, row.correct, row.split) == (WORKER.peer_id_b58, "gemma3-270m", False, "validation")
    assert row.source == VERDICT_MODE and row.job.kind == "score"
    train_row = verdict_outcome(Verdict(answer, True, "train"), "me")
    assert train_row.source == VERDICT_MODE and train_row.split is None  # split by the hash of its query id
    chat = TaskRequest(task_id=b"c" * 16, kind="generate", messages=[], prompt="Why is the sky blue?", deadline_ms=1)
    assert query_text(served_job(chat)) == "Why is the sky blue?"


def test_a_users_mark_reaches_the_remote_peers_that_answered() -> None:
    sent: list[tuple[str, bytes, bool, str]] = []
    links = AnswerLinks(lambda *a: sent.append(a), "me")
    contributions = (
        Contribution("peerA", "gemma3-270m", -0.1, 0.0, 1.0, 1, role="answer", served_task_id="aa" * 16),
        Contribution("peerB", "smollm2", -0.9, 0.0, 1.0, 0, role="dissent", served_task_id="bb" * 16),
        Contribution("peerC", "smollm2", -0.9, 0.0, 1.0, None, role="other", served_task_id="cc" * 16),
        Contribution("me", "smollm2", -0.2, 0.0, 1.0, 1, role="answer", served_task_id="dd" * 16),
    )
    answer = Answer(text="B", mode="vote", answered_by="peerA", model="gemma3-270m", confidence=-0.1, cost=0.0,
                    latency_ms=1.0, task_id="ee" * 16, contributions=contributions)
    links.remember(served_job(request(b"x" * 16)), answer)
    assert links.marked("EE" * 16, True) == 2
    assert sent == [("peerA", bytes.fromhex("aa" * 16), True, "train"), ("peerB", bytes.fromhex("bb" * 16), False, "train")]
    assert links.marked("ff" * 16, True) == 0  # an answer it never gave


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "node.db")
    yield s
    s.close()


class Throttled(FakeNet):
    """The remote peer refuses once with rate_limited, and counts its requests in flight."""

    refused = False
    in_flight = 0
    most_in_flight = 0

    async def request_remote(self, peer: str, req: TaskRequest) -> TaskResult:
        if not self.refused:
            self.refused = True
            raise TaskRefused(peer, TaskRefusal(task_id=req.task_id, reason="rate_limited", retry_after_ms=50))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await trio.sleep(0.3)  # longer than the 0.25 s gap its refusal asked for: slots overlap
            return await self._answer(peer, req)
        finally:
            self.in_flight -= 1


def seed_records(n: int) -> dict[str, object]:
    return {"name": "mine", "records": [
        {"id": i, "query": f"Question number {i} about {w}?", "choices": [f"{w} one", f"{w} two", f"{w} three"],
         "gold": i % 3, "split": "validation" if i % 4 == 0 else "train"}
        for i, w in enumerate(["rocks", "stars", "cells", "rivers", "metals", "birds"] * (n // 6))]}


async def test_seed_from_user_items_reports_every_remote_verdict_and_paces_by_retry_after(store: Store) -> None:
    remote = candidate("peerB", **LARGE)
    net = Throttled([candidate("me", local=True, **SMALL), replace(remote, max_concurrency=2)])
    net.set("peerB", scores=[(-0.1, 1), (-3.0, 1), (-3.0, 1)])  # always picks choice 0
    reported: list[tuple[str, bytes, bool, str]] = []
    seeder = SeedRunner(store=store, router=net.collaborator().router, embedder=fake_embedder(),
                        candidates=lambda: list(net.candidates), attempt=net.collaborator().attempt)
    seeder.report_outcome = lambda *a: reported.append(a)
    items = user_items(seed_records(12))
    summary = await seeder.run(SeedPlan(datasets=(), items=items, generation_items=2))
    p = seeder.progress
    assert p.per_model["gemma3-270m"]["total"] == 12 + 2 and p.failed == 0 and p.backoffs == 1
    assert net.most_in_flight == 2  # what it says it runs at once
    assert len(reported) == p.notified == 12  # every judged remote answer; generations have no verdict
    gold = {mc_context(item): item.gold for _, item in items}
    served = {req.task_id: gold[req.prompt] for peer, req in net.calls if peer == "peerB" and req.kind == "score"}
    assert all(peer == "peerB" and correct == (served[task] == 0) for peer, task, correct, _ in reported)
    assert {split for *_, split in reported} == {"train", "validation"}
    assert summary["train_rows"] > 0


def test_progress_shows_rate_and_the_slowest_models_time_left() -> None:
    p = SeedProgress(state="running", done=30, scoring_started_at=100.0,
                     per_model={"fast": {"done": 20, "failed": 0, "correct": 9, "total": 20},
                                "slow": {"done": 10, "failed": 0, "correct": 5, "total": 40}})
    pace = p.pace(110.0)
    assert pace["rate_per_s"] == pytest.approx(3.0) and pace["eta_s"] == pytest.approx(30.0)
    for t in (140.0, 142.0, 144.0):  # the slow model sped up once the fast one was done
        p.row_done("slow", t)
    assert p.pace(144.0)["eta_s"] == pytest.approx(27 * 2.0)
    assert "recent" not in p.to_json()
    assert SeedProgress(state="done").pace(110.0) == {"rate_per_s": None, "eta_s": None}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"records": "x"}, "data must be"),
        ({"name": "bad name!", "records": [{}]}, "data name"),
        ({"name": "mine", "records": []}, "1 to"),
        ({"name": "mine", "records": [{"query": "q", "choices": ["a", "b"], "gold": 0}, {"query": "q2", "answer": 3}]},
         "mine (record):2: seed items are multiple choice"),
    ],
)
def test_malformed_user_items_are_a_typed_400_error_naming_the_record(data: object, message: str) -> None:
    with pytest.raises(SeedDataInvalid, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        user_items(data)
    assert caught.value.http_status == 400



def test_the_cli_caption_shows_rate_and_eta_once_known() -> None:
    from peermind.node.collab_cli import seed_line

    running = {"phase": "scoring through the network", "rate_per_s": 1.25, "eta_s": 125.4,
               "per_model": {"smollm2": {"done": 40, "correct": 20}, "gemma3-270m": {"done": 10, "correct": 6}}}
    assert seed_line(running) == ("scoring through the network smollm2 20/40, gemma3-270m 6/10 · 1.25 rows/s · ETA 2:05")
    assert seed_line({**running, "eta_s": None}).endswith("1.25 rows/s")


class Hopeless(FakeNet):
    """A peer whose speed estimate says no to the first two deadlines it is given."""

    allowed_s: list[float] = []

    async def request_remote(self, peer: str, req: TaskRequest) -> TaskResult:
        allowed = (req.deadline_ms - now_ms()) / 1000
        self.allowed_s.append(allowed)
        if allowed < 400:
            raise TaskRefused(peer, TaskRefusal(task_id=req.task_id, reason="deadline", detail="needs ~300 s"))
        return await self._answer(peer, req)


async def test_a_peer_that_refuses_the_deadline_is_given_more_time_not_dropped(store: Store) -> None:
    net = Hopeless([candidate("me", local=True, **SMALL), candidate("peerB", **LARGE)])
    seeder = SeedRunner(store=store, router=net.collaborator().router, embedder=fake_embedder(),
                        candidates=lambda: list(net.candidates), attempt=net.collaborator().attempt)
    await seeder.run(SeedPlan(datasets=(), items=user_items(seed_records(6)), generation_items=0))
    assert seeder.progress.per_model["gemma3-270m"]["done"] == 6 and seeder.progress.failed == 0
    assert [round(s, -1) for s in net.allowed_s[:3]] == [120, 240, 480]


class SlowEncoder(FakeEncoder):
    """An embedder that takes its time to load, like torch on a busy machine."""

    done_at = 0.0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(0.5)
        SlowEncoder.done_at = time.monotonic()
        return super().encode(texts)


class Clocked(FakeNet):
    first_call = 0.0

    async def request_remote(self, peer: str, req: TaskRequest) -> TaskResult:
        self.first_call = self.first_call or time.monotonic()
        return await self._answer(peer, req)


async def test_scoring_starts_while_the_embedder_loads_and_rows_wait_for_their_embedding(store: Store) -> None:
    net = Clocked([candidate("me", local=True, **SMALL), candidate("peerB", **LARGE)])
    seeder = SeedRunner(store=store, router=net.collaborator().router, embedder=QueryEmbedder(SlowEncoder()),
                        candidates=lambda: list(net.candidates), attempt=net.collaborator().attempt)
    items = user_items(seed_records(6))
    await seeder.run(SeedPlan(datasets=(), items=items, generation_items=0))
    assert 0 < net.first_call < SlowEncoder.done_at
    rows = [r for r in store.feedback_rows() if (r.mode, r.split) == ("seed", "train")]
    assert len(rows) == 2 * sum(1 for split, _ in items if split == "train")
    texts = {it.id: query_text(item_job(it)) for _, it in items}
    assert all(np.array_equal(r.query_embedding, FakeEncoder().encode_one(texts[r.query_id])) for r in rows)


async def test_a_peer_that_runs_one_task_gets_one_request_and_refusals_double_the_gap(store: Store) -> None:
    from peermind.node.collab.seed import _PeerState

    net = Throttled([candidate("me", local=True, **SMALL), candidate("peerB", **LARGE)])  # max_concurrency 1
    seeder = SeedRunner(store=store, router=net.collaborator().router, embedder=fake_embedder(),
                        candidates=lambda: list(net.candidates), attempt=net.collaborator().attempt)
    await seeder.run(SeedPlan(datasets=(), items=user_items(seed_records(6)), generation_items=0))
    assert net.most_in_flight == 1  # its second task slot stays free for the asking node's user
    pace = _PeerState()
    pace.refused(0.1)
    assert pace.gap_s == 0.5  # at least MIN_BACK_OFF_S
    pace.refused(0.1)
    pace.refused(0.1)
    assert pace.gap_s == 2.0  # doubled by each refusal
    for _ in range(14):
        pace.answered()
    assert 0.9 < pace.gap_s < 1.0  # about 14 answers to halve it again


class SlowToStart(FakeNet):
    """A remote peer that asks the seeder to wait before its first task (throttled, or busy
    with its own start-up) while this node's own copy of the same model answers at once."""

    waits = 3

    async def request_remote(self, peer: str, req: TaskRequest) -> TaskResult:
        if self.waits:
            self.waits -= 1
            raise TaskRefused(peer, TaskRefusal(task_id=req.task_id, reason="rate_limited", retry_after_ms=300))
        return await self._answer(peer, req)


async def test_every_remote_peer_of_a_model_ends_the_seed_with_a_training_verdict(store: Store) -> None:
    """Training refuses a node whose rows are all validation rows (``no_data``): the CI failure
    of session 6, where the local SmolLM2 took every train item before its twin's first turn."""
    net = SlowToStart([candidate("me", local=True, **SMALL), candidate("twin", **SMALL)])
    net.set("me", delay_s=0.01)
    reported: list[tuple[str, bytes, bool, str]] = []
    seeder = SeedRunner(store=store, router=net.collaborator().router, embedder=fake_embedder(),
                        candidates=lambda: list(net.candidates), attempt=net.collaborator().attempt)
    seeder.report_outcome = lambda *a: reported.append(a)
    items = user_items(seed_records(12))
    await seeder.run(SeedPlan(datasets=(), items=items, generation_items=0))
    p = seeder.progress
    assert p.per_model["smollm2"]["done"] == len(items) and p.failed == 0 and p.backoffs >= 3
    assert any(split == "train" for peer, _, _, split in reported if peer == "twin")


async def test_a_peer_that_stops_answering_does_not_keep_the_train_items(store: Store) -> None:
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("gone", **SMALL)])
    net.set("gone", error=dead())
    seeder = SeedRunner(store=store, router=net.collaborator().router, embedder=fake_embedder(),
                        candidates=lambda: list(net.candidates), attempt=net.collaborator().attempt)
    items = user_items(seed_records(12))
    await seeder.run(SeedPlan(datasets=(), items=items, generation_items=0))
    assert seeder.progress.per_model["smollm2"]["done"] == len(items) and seeder.progress.left == 0
