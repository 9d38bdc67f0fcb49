"""A refusing peer's retry_after_ms is honoured: it is skipped until then, unless pinned."""

from __future__ import annotations

import pytest
from collab_fakes import LARGE, SMALL, FakeNet, candidate, mc, router_with
from peermind.node.collab.backoff import PeerBackoff
from peermind.node.collab.constraints import AllCandidatesFailed, Constraints
from peermind.node.collab.job import Job
from peermind.node.p2p.tasks import TaskRefused
from peermind.protocol import TaskRefusal

MC = Job(kind="score", prompt="Question: 2+2?\nAnswer:", continuations=(" 3", " 4", " 5"))


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _rate_limited(peer: str, retry_after_ms: int) -> TaskRefused:
    refusal = TaskRefusal(task_id=b"\0" * 16, reason="rate_limited", detail="slow down", retry_after_ms=retry_after_ms)
    return TaskRefused(peer, refusal)


def test_backoff_lasts_as_long_as_the_peer_asked_and_is_capped() -> None:
    clock = Clock()
    backoff = PeerBackoff(now=clock, max_s=60.0)
    backoff.note("a", 0)
    assert not backoff.waiting("a")
    backoff.note("a", 2_500)
    backoff.note("a", 1_000)  # a shorter later wait never shortens the earlier one
    assert backoff.waiting("a") and abs(backoff.remaining_s("a") - 2.5) < 1e-9
    clock.t += 2.5
    assert not backoff.waiting("a")
    backoff.note("b", 86_400_000)
    clock.t += 59.9
    assert backoff.waiting("b")
    clock.t += 0.2
    assert not backoff.waiting("b")


async def test_a_peer_that_refused_with_retry_after_is_skipped_then_asked_again() -> None:
    n = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    n.set("me", scores=mc(-0.1, -3.0, -3.0))
    n.set("big", error=_rate_limited("big", 60_000))
    collab = n.collaborator(router=router_with({"smollm2": 0.3, "gemma3-270m": 0.9}))
    clock = Clock()
    collab.backoff = PeerBackoff(now=clock)
    await collab.run(MC, mode="route")
    assert n.asked == ["big", "me"]  # refused, fell back to the local model
    await collab.run(MC, mode="route")
    assert n.asked[2:] == ["me"]  # "big" said to wait a minute: not asked
    with pytest.raises(AllCandidatesFailed, match="rate_limited"):  # a pinned request still tries it
        await collab.run(MC, mode="route", constraints=Constraints(peer="big"), timeout_s=5.0)
    assert n.asked[3:] == ["big"]
    clock.t += 61
    n.set("big", scores=mc(-3.0, -0.1, -3.0))
    await collab.run(MC, mode="route")
    assert n.asked[-1] == "big"
