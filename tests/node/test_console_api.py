"""The console's HTTP side over a real socket: page, static files, token, state, event stream.

The node here is a small stand-in (console_standin.py: status(), a real SQLite Store, the
real EventBus and AnswerLog); the full daemon is exercised by test_console_browser.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from console_standin import BAD, GOOD, SELF, StandInNode
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from peermind.node.api._trust_timeline import TrustTimeline
from peermind.node.api.app import TokenAuth
from peermind.node.api.routes_console import console_routes
from peermind.node.store import Store
from starlette.applications import Starlette
from starlette.middleware import Middleware

TOKEN = "s3cret-token"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, StandInNode]]:
    store = Store.open(tmp_path / "node.db")
    node = StandInNode(store, TOKEN)
    app = Starlette(routes=console_routes(node), middleware=[Middleware(TokenAuth, token=TOKEN)])
    cfg = HypercornConfig()
    cfg.bind = ["127.0.0.1:0"]
    cfg.accesslog = None
    cfg.graceful_timeout = 0.5
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(serve, app, cfg)  # type: ignore[arg-type]
        yield urls[0].rstrip("/"), node
        nursery.cancel_scope.cancel()
    store.close()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_page_and_static_files_are_public_and_local_only(served: tuple[str, StandInNode]) -> None:
    base, _ = served
    async with httpx.AsyncClient(base_url=base) as client:
        page = await client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for name, kind in (("console.js", "javascript"), ("console.css", "css"), ("favicon.svg", "svg")):
            r = await client.get(f"/console/static/{name}")
            assert r.status_code == 200 and kind in r.headers["content-type"], name
            assert "http://" not in r.text.replace("http://www.w3.org/2000/svg", ""), f"{name} names an external URL"
            assert "https://" not in r.text, f"{name} names an external URL"
        assert "https://" not in page.text and "http://" not in page.text
        for bad in ("nope.js", "__init__.py", "..%2Fconsole.py", ".hidden.css"):
            assert (await client.get(f"/console/static/{bad}")).status_code == 404, bad


async def test_data_routes_need_the_token(served: tuple[str, StandInNode]) -> None:
    base, _ = served
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/console/state")).status_code == 401
        assert (await client.get("/events")).status_code == 401
        wrong = {"Authorization": "Bearer wrong"}
        assert (await client.get("/console/state", headers=wrong)).status_code == 401


async def test_state_has_every_section(served: tuple[str, StandInNode]) -> None:
    base, node = served
    for _ in range(3):
        node.store.add_evidence(peer=GOOD, kind="task_ok", detail="1 ms")
    for _ in range(4):
        node.store.add_evidence(peer=BAD, kind="answer_wrong", detail="canary")
    node.store.record_round(run_id="run-1", round=1, role="server", participants=[SELF, GOOD, BAD],
                            excluded=[BAD], metrics={"val_accuracy": 0.61}, adopted=True)
    async with httpx.AsyncClient(base_url=base, headers=AUTH) as client:
        state = (await client.get("/console/state")).json()
    topo = state["topology"]
    assert {n["peer_id"] for n in topo["nodes"]} == {SELF, GOOD, BAD}
    assert {e["target"] for e in topo["edges"]} == {GOOD, BAD}
    tiers = {n["peer_id"]: n["tier"] for n in topo["nodes"]}
    assert tiers[SELF] == "device" and tiers[GOOD] == "cloud" and tiers[BAD] == "unknown"
    trust = state["trust"]["peers"]
    assert trust[BAD]["score"] < state["trust"]["thresholds"]["ask"] < trust[GOOD]["score"]
    assert trust[BAD]["standing"] in ("do_not_ask", "banned")
    assert trust[BAD]["evidence"] == {"total": 4, "positive": 0, "negative": 4, "by_kind": {"answer_wrong": 4}}
    assert trust[GOOD]["global"] is None  # no global-trust wiring on this node: the page shows n/a
    assert state["training"]["rounds"][0]["excluded"] == [BAD]
    assert "auto" in state["modes"]


async def _frames(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    kind = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            yield kind, json.loads(line[6:])


async def test_event_stream_delivers_bus_events_and_frees_the_slot(served: tuple[str, StandInNode]) -> None:
    base, node = served
    async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=10) as client:
        async with client.stream("GET", "/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            frames = _frames(response)
            with trio.fail_after(10):
                kind, _ = await frames.__anext__()
                assert kind == "hello"
                assert node.events.subscriber_count == 1
                seen = set()
                while not {"topology", "trust", "training"} <= seen:  # sections arrive without asking
                    seen.add((await frames.__anext__())[0])
                node.events.publish("task", {"question": "ping?", "status": "ok"})
                while True:
                    kind, data = await frames.__anext__()
                    if kind == "task":
                        break
                assert data["question"] == "ping?" and data["id"] >= 1
            await frames.aclose()
    with trio.fail_after(10):  # the server notices the client left and unsubscribes
        while node.events.subscriber_count:  # noqa: ASYNC110 - the count lives in the bus; polling is simplest
            await trio.sleep(0.05)


async def test_event_stream_answers_503_when_every_slot_is_taken(served: tuple[str, StandInNode]) -> None:
    base, node = served
    node.events.max_subscribers = 1
    with node.events.subscribe():
        async with httpx.AsyncClient(base_url=base, headers=AUTH) as client:
            r = await client.get("/events")
    assert r.status_code == 503 and r.json()["error"]["type"] == "too_many_subscribers"


def test_trust_timeline_replays_incrementally(tmp_path: Path) -> None:
    with Store.open(tmp_path / "node.db") as store:
        timeline = TrustTimeline()
        t0 = time.time() - 100
        for i in range(5):
            store.add_evidence(peer=GOOD, kind="answer_right", at=t0 + i)
        store.add_evidence(peer=GOOD, kind="no_such_kind", at=t0 + 6)
        timeline.update(store)
        first = timeline.peers()[GOOD]
        assert len(first["history"]) == 6  # five samples plus "now"
        assert first["score"] > timeline.params.prior_mean
        assert timeline.unscored == 1
        store.add_evidence(peer=GOOD, kind="answer_wrong", at=t0 + 10)
        timeline.update(store)  # reads only the new row
        second = timeline.peers()[GOOD]
        assert second["evidence"]["total"] == 6 and second["evidence"]["negative"] == 1
        assert second["score"] < first["score"]
