"""The node's event bus: bounded per subscriber, slow subscribers dropped, publish never blocks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import trio
from peermind.node.answer_log import AnswerLog
from peermind.node.events import EventBus, EventBusClosed, TooManySubscribers, json_safe
from peermind.protocol import ChatMessage


async def test_subscriber_receives_events_in_order() -> None:
    bus = EventBus(buffer=16)
    with bus.subscribe() as sub:
        for i in range(5):
            bus.publish("task", {"n": i})
        got = [await sub.receive() for _ in range(5)]
    assert [e.data["n"] for e in got] == [0, 1, 2, 3, 4]
    assert [e.id for e in got] == sorted(e.id for e in got)
    assert {e.kind for e in got} == {"task"}
    assert bus.subscriber_count == 0


async def test_slow_subscriber_is_dropped_and_fast_one_keeps_everything() -> None:
    bus = EventBus(buffer=4)
    with bus.subscribe() as slow, bus.subscribe() as fast:
        received: list[int] = []
        for i in range(10):
            bus.publish("task", {"n": i})  # synchronous: returns without waiting for anyone
            received.append((await fast.receive()).data["n"])
        assert received == list(range(10))
        assert slow.dropped
        assert bus.dropped == 1
        assert bus.subscriber_count == 1  # only the fast one is still attached
        kept = [e.data["n"] async for e in slow]  # what was buffered before the drop, then the end
        assert kept == [0, 1, 2, 3]


async def test_a_stalled_subscriber_never_blocks_publishing() -> None:
    bus = EventBus(buffer=8)
    with bus.subscribe() as stalled:
        for i in range(10_000):  # publish is synchronous: it cannot wait for the stalled reader
            bus.publish("ad", {"n": i})
        assert stalled.dropped
        assert bus.published == 10_000
    assert bus.subscriber_count == 0


async def test_publish_from_a_worker_thread_reaches_trio_subscribers() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        await trio.to_thread.run_sync(lambda: bus.publish("training", {"round": 3}))
        with trio.fail_after(5):
            event = await sub.receive()
    assert event.kind == "training" and event.data == {"round": 3}


async def test_subscriber_slots_are_bounded_and_freed() -> None:
    bus = EventBus(max_subscribers=2)
    with bus.subscribe(), bus.subscribe():
        with pytest.raises(TooManySubscribers, match="close other console tabs"):
            with bus.subscribe():
                pass
    with bus.subscribe():
        assert bus.subscriber_count == 1


async def test_history_replays_events_after_an_id() -> None:
    bus = EventBus(history=3)
    ids = [bus.publish("task", {"n": i}).id for i in range(5)]
    assert [e.id for e in bus.recent()] == ids[-3:]
    assert [e.id for e in bus.recent(ids[3])] == [ids[4]]
    assert bus.last_id == ids[-1]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        EventBus(buffer=0)


@dataclass
class _Point:
    x: float
    label: bytes


def test_json_safe_makes_anything_serialisable() -> None:
    nested: dict[str, object] = {}
    cur = nested
    for _ in range(30):
        cur["next"] = {}
        cur = cur["next"]  # type: ignore[assignment]
    value = json_safe({"nan": math.nan, "inf": math.inf, "b": b"\x01\xff", "dc": _Point(1.5, b"a"),
                       "t": (1, 2), "obj": object, "deep": nested})
    assert value["nan"] is None and value["inf"] is None
    assert value["b"] == "01ff"
    assert value["dc"] == {"x": 1.5, "label": "61"}
    assert value["t"] == [1, 2]
    assert isinstance(value["obj"], str)


@dataclass(frozen=True)
class _Job:
    kind: str = "generate"
    messages: tuple[ChatMessage, ...] = (ChatMessage(role="system", content="be brief"),
                                          ChatMessage(role="user", content="why is the sky blue?"))

    @property
    def text(self) -> str:
        return "\n".join(m.content for m in self.messages)


class _Answer:
    text = "Rayleigh scattering."

    def provenance(self) -> dict[str, object]:
        return {"mode": "route", "answered_by": "12D3KooWpeer", "confidence": 0.8, "attempts": [{"peer_id": "12D3KooWpeer"}]}


def test_answer_log_keeps_full_provenance_in_a_bounded_ring() -> None:
    log = AnswerLog(size=3)
    first = log.record(_Job(), "route", answer=_Answer())
    assert first["question"] == "why is the sky blue?"
    assert first["provenance"]["attempts"] == [{"peer_id": "12D3KooWpeer"}]
    assert first["status"] == "ok" and first["text"] == "Rayleigh scattering."
    failed = log.record(_Job(), "vote", error=RuntimeError("all candidates failed"))
    assert failed["status"] == "error" and "all candidates failed" in failed["error"]
    for _ in range(3):
        log.record(_Job(), "auto", answer=_Answer())
    assert len(log) == 3
    assert log.get(first["id"]) is None  # pushed out of the ring
    assert [e["id"] for e in log.recent(2)] == [5, 4]


async def test_closing_the_bus_ends_every_stream_and_refuses_new_ones() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        bus.publish("task", {"n": 1})
        bus.close()
        assert [e.data["n"] async for e in sub] == [1]  # what was sent still arrives, then the end
        assert not sub.dropped
    with pytest.raises(EventBusClosed, match="shutting down"):
        with bus.subscribe():
            pass
    bus.publish("task", {"n": 2})  # harmless after close
