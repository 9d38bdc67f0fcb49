"""Route and auto with small fakes: utility choice, fallback, cold start, typed refusals."""

from __future__ import annotations

import pytest
import trio
from collab_fakes import (
    LARGE,
    SMALL,
    FakeNet,
    busy,
    candidate,
    dead,
    fake_embedder,
    mc,
    router_with,
)
from peermind.node.collab.constraints import Constraints, Tactics
from peermind.node.collab.errors import AllCandidatesFailed, InfeasibleConstraints
from peermind.node.collab.job import Job
from peermind.node.collab.policy import MAX_RETRY_WAITS
from peermind.node.collab.router_state import Calibration
from peermind.node.p2p.tasks import TaskRefused
from peermind.protocol import TaskRefusal

MC = Job(kind="score", prompt="Question: 2+2?\nAnswer:", continuations=(" 3", " 4", " 5"))
GEN = Job.question("Capital of France?", max_tokens=16)


def net3() -> FakeNet:
    return FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE), candidate("s2", **SMALL)])


async def test_cold_start_routes_to_the_strongest_model_by_ad() -> None:
    net = net3()
    answer = await net.collaborator().run(MC, mode="route")
    assert answer.answered_by == "big" and answer.router == "prior"
    assert answer.task_id and answer.decision_ms >= 0 and answer.choice is not None
    assert answer.provenance()["considered"][0]["peer_id"] == "big"


async def test_learned_router_trades_quality_for_cost() -> None:
    net = net3()
    router = router_with({"smollm2": 0.55, "gemma3-270m": 0.60})
    cheap = await net.collaborator(router, fake_embedder()).run(MC, mode="route", tactics=Tactics(cost_weight=0.2))
    assert cheap.answered_by == "me" and cheap.router == "learned"  # 0.60 - 0.2 < 0.55 - 0.05
    strong = await net.collaborator(router, fake_embedder()).run(MC, mode="route", tactics=Tactics(cost_weight=0.0))
    assert strong.answered_by == "big"


async def test_a_failing_pick_falls_back_to_the_next_candidate_silently() -> None:
    net = net3()
    net.set("big", error=dead())
    answer = await net.collaborator().run(MC, mode="route")
    assert answer.answered_by != "big"
    assert [a.outcome for a in answer.attempts][0] == "failed"
    assert any(kind == "timeout" for _p, kind, _d in net.evidence)


async def test_every_candidate_failing_is_a_typed_error() -> None:
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    net.set("me", error=busy("me"))
    net.set("big", error=dead())
    with pytest.raises(AllCandidatesFailed, match="failed"):
        await net.collaborator().run(MC, mode="route")


@pytest.mark.parametrize(("constraints", "name"), [
    (Constraints(require_tags=("eu",)), "require_tags"),
    (Constraints(max_cost=1e-9), "max_cost"),
    (Constraints(budget_ms=0.001), "budget_ms"),
    (Constraints(peer="nobody"), "peer"),
    (Constraints(min_quality=0.5), "min_quality"),
])
async def test_infeasible_constraints_name_the_constraint(constraints: Constraints, name: str) -> None:
    with pytest.raises(InfeasibleConstraints) as info:
        await net3().collaborator().run(MC, mode="route", constraints=constraints)
    assert info.value.constraint == name


async def test_local_only_and_tags_restrict_the_choice() -> None:
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("eu", **LARGE, tags=("eu",)), candidate("us", **LARGE)])
    assert (await net.collaborator().run(GEN, mode="local")).answered_by == "me"
    tagged = await net.collaborator().run(GEN, mode="route", constraints=Constraints(require_tags=("eu",)))
    assert tagged.answered_by == "eu"


async def test_auto_escalates_an_unsure_cheap_answer() -> None:
    net = net3()
    cal = Calibration(thresholds={"smollm2": {"score": 0.9}}, cost_weight=0.5)
    router = router_with({"smollm2": 0.55, "gemma3-270m": 0.60}, calibration=cal)
    net.set("me", scores=mc(-1.0, -1.1, -1.2))  # flat: unsure
    answer = await net.collaborator(router, fake_embedder()).run(MC, mode="auto")
    assert answer.escalated and answer.answered_by == "big" and answer.mode == "auto"
    roles = {c.peer_id: c.role for c in answer.contributions}
    assert set(roles) == {"me", "big"}


async def test_a_question_never_waits_for_the_embedder_to_load() -> None:
    net = net3()
    embedder = fake_embedder()
    embedder.loaded = False  # as after start-up: the model is not in memory yet
    router = router_with({"smollm2": 0.55, "gemma3-270m": 0.60})
    answer = await net.collaborator(router, embedder).run(MC, mode="route")
    assert answer.router == "prior (embedder loading)" and answer.answered_by == "big"
    async with trio.open_nursery() as nursery:
        await nursery.start(embedder.loader)  # the background loader picks the request up
    assert embedder.ready
    assert (await net.collaborator(router, embedder).run(MC, mode="route")).router == "learned"


async def test_deadline_and_rate_limit_refusals_count_as_back_pressure() -> None:
    """Refusals that only say "later" are weak busy evidence; any other reason is a refusal."""
    for reason, kind in (("busy", "refusal_busy"), ("deadline", "refusal_busy"), ("rate_limited", "refusal_busy"),
                         ("untrusted", "refusal_other")):
        net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
        net.set("big", error=TaskRefused("big", TaskRefusal(task_id=b"\0" * 16, reason=reason, retry_after_ms=10)))
        with pytest.raises(AllCandidatesFailed):  # pinned to the refusing peer
            await net.collaborator().run(MC, mode="route", constraints=Constraints(peer="big"))
        # "come back later" (busy, rate_limited) is waited out and asked again (MAX_RETRY_WAITS); the rest once
        asked = 1 + MAX_RETRY_WAITS if reason in ("busy", "rate_limited") else 1
        assert [k for p, k, _d in net.evidence if p == "big"] == [kind] * asked, reason


async def test_a_refusal_for_now_is_waited_out_once_when_nobody_else_answered() -> None:
    """A pinned peer that is rate-limited now answers after its retry_after, within the deadline."""
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    refusal = TaskRefused("big", TaskRefusal(task_id=b"\0" * 16, reason="rate_limited", retry_after_ms=300))
    refusals = [refusal]

    async def first_refused(peer: str, req: object) -> object:
        if peer == "big" and refusals:
            net.calls.append((peer, req))  # type: ignore[arg-type]
            raise refusals.pop()
        return await answer(peer, req)

    answer = net._answer
    net._answer = first_refused  # type: ignore[method-assign,assignment]
    started = trio.current_time()
    got = await net.collaborator().run(MC, mode="route", constraints=Constraints(peer="big"))
    assert got.answered_by == "big" and trio.current_time() - started >= 0.3
    assert [a.outcome for a in got.attempts] == ["refused:rate_limited", "ok"]
    # a refusal that waiting cannot end (untrusted) is not retried
    net.set("big", error=TaskRefused("big", TaskRefusal(task_id=b"\0" * 16, reason="untrusted", retry_after_ms=300)))
    with pytest.raises(AllCandidatesFailed):
        await net.collaborator().run(MC, mode="route", constraints=Constraints(peer="big"))
    assert sum(1 for p, _r in net.calls if p == "big") == 3


async def test_a_peer_refusing_by_one_limit_then_another_is_waited_out_again(autojump_clock: trio.abc.Clock) -> None:
    """A peer's request limit, then its work limit: each refusal's retry_after ends only its own
    limit. One wait gave a light node's user an error on 7 of 24 back-to-back questions."""
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    refusals = [TaskRefused("big", TaskRefusal(task_id=b"\0" * 16, reason="rate_limited", detail=d, retry_after_ms=100))
                for d in ("work over the allowance", "exceeded the request limit")]

    async def refused_twice(peer: str, req: object) -> object:
        if peer == "big" and refusals:
            raise refusals.pop()
        return await answer(peer, req)

    answer = net._answer
    net._answer = refused_twice  # type: ignore[method-assign,assignment]
    got = await net.collaborator().run(MC, mode="route", constraints=Constraints(peer="big"))
    assert got.answered_by == "big"
    assert [a.outcome for a in got.attempts] == ["refused:rate_limited", "refused:rate_limited", "ok"]
    # the waits stop at MAX_RETRY_WAIT_S (15 s) in all: a peer that asks for 6 s each time is waited out twice
    net.set("big", error=TaskRefused("big", TaskRefusal(task_id=b"\0" * 16, reason="busy", retry_after_ms=6000)))
    before = len(net.evidence)
    started = trio.current_time()
    with pytest.raises(AllCandidatesFailed):
        await net.collaborator().run(MC, mode="route", constraints=Constraints(peer="big"), timeout_s=120)
    assert [k for p, k, _d in net.evidence[before:] if p == "big"] == ["refusal_busy"] * 3
    assert 12 <= trio.current_time() - started < 15
