"""What every adversarial role shares: a Node subclass with an attack task, a lure, stats.

Adversaries are real nodes (same daemon, same wire format) built by subclassing the
node's public classes (from ``peermind.node.extension``); only their behaviour differs. Each writes what it did to
``DATA_DIR/adversary.json`` (sent / outcomes per action) so benchmarks can compare it with
what honest nodes counted. Active attacks (forging, flooding) start when the file
``DATA_DIR/adversary.go`` appears or ``PEERMIND_ADVERSARY_START_S`` seconds after the node
is ready (default 45), so a testnet converges before it is attacked; they stop when
``DATA_DIR/adversary.stop`` appears or after ``PEERMIND_ADVERSARY_DURATION_S`` if set.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import trio
from peermind.node.extension import Node
from peermind.protocol import CapabilityAd

log = logging.getLogger("peermind.testnet.adversary")

__all__ = ["GO_FILE", "PAUSE_FILE", "STATS_FILE", "STOP_FILE", "AdversaryNode", "AdversaryStats", "lure"]

STATS_FILE = "adversary.json"
GO_FILE = "adversary.go"
STOP_FILE = "adversary.stop"
PAUSE_FILE = "adversary.pause"
"""While this file exists an active adversary holds its attack (interleaved measurements)."""
DEFAULT_START_S = 45.0
LURE_PARAMS = 50.0  # claim a 50x bigger model (SmolLM2-135M -> "6.7B")
LURE_SPEED = 2.0


class AdversaryStats:
    """Counters of an adversary's actions, flushed to ``adversary.json`` at most once a second."""

    def __init__(self, data_dir: Path, role: str) -> None:
        self.path = data_dir / STATS_FILE
        self.role = role
        self.counts: Counter[str] = Counter()
        self.started_attack_at: float | None = None
        self._flushed = 0.0

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n
        if time.monotonic() - self._flushed > 1.0:
            self.flush()

    def flush(self) -> None:
        self._flushed = time.monotonic()
        data = {"role": self.role, "pid": os.getpid(), "started_attack_at": self.started_attack_at,
                "updated_at": time.time(), "counts": dict(sorted(self.counts.items()))}
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data, indent=2))
            os.replace(tmp, self.path)
        except OSError:
            log.warning("could not write adversary stats")


def lure(ad: CapabilityAd) -> CapabilityAd:
    """The same ad claiming a bigger, faster model: what attracts a router's traffic."""
    models = [dataclasses.replace(m, params_m=m.params_m * LURE_PARAMS, gen_tps=m.gen_tps * LURE_SPEED)
              for m in ad.models]
    return dataclasses.replace(ad, models=models)


class AdversaryNode(Node):
    """A Node with a role: optionally lures traffic with an inflated ad, runs ``attack()``."""

    role = "adversary"
    lures = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.config.network.startswith("testnet") and os.environ.get("PEERMIND_ALLOW_ADVERSARY") != "1":
            raise SystemExit(f"refusing to run the {self.role!r} adversary on network {self.config.network!r}: "
                             "adversaries are for testnets (network names starting with 'testnet')")
        self.stats = AdversaryStats(self.config.data_dir, self.role)
        self.stats.flush()
        self._seen_peers: dict[str, float] = {}

    async def make_ad(self) -> CapabilityAd:
        ad = await super().make_ad()
        return lure(ad) if self.lures else ad

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._attack_when_told)
            await super().run(task_status=task_status)
            nursery.cancel_scope.cancel()

    async def _attack_when_told(self) -> None:
        await self.ready.wait()
        start_s = float(os.environ.get("PEERMIND_ADVERSARY_START_S", DEFAULT_START_S))
        go = self.config.data_dir / GO_FILE
        with trio.move_on_after(start_s):
            while not go.exists():  # noqa: ASYNC110 - a file written by another process
                await trio.sleep(0.2)
        self.stats.started_attack_at = time.time()
        self.stats.flush()
        log.warning("adversary attacking", extra={"role": self.role})
        try:
            await self.attack()
        except Exception:
            log.exception("adversary attack loop failed")
        finally:
            self.stats.flush()

    def attack_over(self) -> bool:
        """True once ``DATA_DIR/adversary.stop`` exists or ``PEERMIND_ADVERSARY_DURATION_S`` passed."""
        if (self.config.data_dir / STOP_FILE).exists():
            return True
        duration = os.environ.get("PEERMIND_ADVERSARY_DURATION_S")
        began = self.stats.started_attack_at
        return bool(duration) and began is not None and time.time() - began > float(duration or 0)

    def paused(self) -> bool:
        """True while ``DATA_DIR/adversary.pause`` exists: the attack loop idles."""
        return (self.config.data_dir / PAUSE_FILE).exists()

    async def attack(self) -> None:
        """Active misbehaviour (forging, flooding); passive roles misbehave when asked instead."""
        await trio.sleep_forever()

    def known_peers(self) -> list[str]:
        """Peers to attack: every peer ever seen in an ad (also after they disconnected us)."""
        for entry in self.board.fresh():
            self._seen_peers[entry.peer_id] = time.time()
        return sorted(self._seen_peers)
