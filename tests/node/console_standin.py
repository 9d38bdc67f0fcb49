"""A stand-in node for the console's fast tests: what the console reads, without a model.

It has a real SQLite ``Store``, the real ``EventBus`` and ``AnswerLog``, and a fixed
``status()`` (this node plus two connected peers). The full daemon is exercised on a real
testnet by test_console_browser.py. Run ``python console_standin.py DB_DIR TOKEN`` to serve
the console of a seeded stand-in on a free port (prints ``URL <base>``, then serves).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from peermind.node.answer_log import AnswerLog
from peermind.node.events import EventBus
from peermind.node.store import Store

SELF = "12D3KooWSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1f"
GOOD = "12D3KooWGoodGoodGoodGoodGoodGoodGoodGoodGoodGood"
BAD = "12D3KooWBadBadBadBadBadBadBadBadBadBadBadBadBadB"


class StandInNode:
    """What the console reads from a node, with a real store and a real event bus."""

    def __init__(self, store: Store, token: str | None) -> None:
        self.peer_id = SELF
        self.store = store
        self.events = EventBus(buffer=8)
        self.answers = AnswerLog()
        self.started_at = time.time()
        self.config = SimpleNamespace(api_token=token, ads=SimpleNamespace(tags=("tier:device",), skills=()))
        self.trust = None  # no trust wiring: the console replays stored evidence only

    def status(self) -> dict[str, Any]:
        ad = {"peer_id": GOOD, "models": [{"name": "gemma3-270m", "params_m": 268.1, "gen_tps": 30.0}],
              "queue_depth": 1, "max_queue": 8, "load": 0.5, "cost_per_1k": 0.4, "tags": ["tier:cloud"],
              "expires_at": time.time() + 30}
        return {"peer_id": SELF, "network": "unit", "api_url": "", "uptime_s": 1.0,
                "model": {"name": "smollm2", "params_m": 134.5, "gen_tps": 55.0, "cost_per_1k": 0.1},
                "queue": {"depth": 0, "max": 8, "load": 0.0}, "connected": [GOOD, BAD], "peers": [ad]}


def seed(store: Store) -> None:
    """An honest peer, a peer caught lying (below the ask threshold) and three training rounds."""
    now = time.time()
    for i in range(6):
        store.add_evidence(peer=GOOD, kind="task_ok" if i % 3 else "answer_right", at=now - 300 + i * 30)
    for i in range(4):
        store.add_evidence(peer=BAD, kind="answer_wrong", at=now - 200 + i * 30)
    for r in range(1, 4):
        store.record_round(run_id="run-1", round=r, role="coordinator", participants=[SELF, GOOD, BAD],
                           excluded=[BAD] if r > 1 else [], metrics={"val_accuracy": 0.5 + 0.05 * r},
                           adopted=r != 2, created_at=now - 100 + r * 10)


def _serve(db_dir: str, token: str) -> None:
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve
    from peermind.node.api.app import TokenAuth
    from peermind.node.api.routes_console import console_routes
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    store = Store.open(Path(db_dir) / "node.db")
    seed(store)
    app = Starlette(routes=console_routes(StandInNode(store, token)),
                    middleware=[Middleware(TokenAuth, token=token)])
    cfg = Config()
    cfg.bind = ["127.0.0.1:0"]
    cfg.accesslog = None

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(serve, app, cfg)  # type: ignore[arg-type]
            print(f"URL {urls[0].rstrip('/')}", flush=True)

    trio.run(main)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
