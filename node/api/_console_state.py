"""What the console and ``peermind top`` show, gathered from a running node as plain JSON.

The console reads the node through one typed port (:class:`ConsoleNode`; the daemon's
``Node`` satisfies it, and so does a test's stand-in). Several parts of the node
(collaboration modes, trust wiring, federated training) grow independently, so a section
that fails reports its error in place instead of taking the whole view down.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from ..events import json_safe
from ..json_types import JsonValue, as_list, as_object
from ..ports import NodeCore
from ._trust_timeline import TrustTimeline

if TYPE_CHECKING:
    from peermind.trust import ReputationBook

    from ..answer_log import AnswerLog
    from ..events import EventBus

log = logging.getLogger("peermind.node.console")

__all__ = ["ConsoleData", "ConsoleNode", "ConsoleTrust", "known_peers", "peer_tier"]

SMALL_MODEL_PARAMS_M = 200.0
RECENT_ANSWERS = 50
RECENT_TASKS = 60
RECENT_ROUNDS = 30


def peer_tier(tags: object, params_m: object) -> str:
    """A node's tier: its ``tier:<name>`` tag if it advertises one, else small/large by size."""
    for tag in tags if isinstance(tags, list | tuple) else ():
        if isinstance(tag, str) and tag.startswith("tier:") and len(tag) > 5:
            return tag[5:]
    if isinstance(params_m, int | float) and params_m > 0:
        return "small" if params_m <= SMALL_MODEL_PARAMS_M else "large"
    return "unknown"


class ConsoleTrust(Protocol):
    """What the console reads of the node's trust wiring."""

    @property
    def book(self) -> ReputationBook:
        """The live reputation book (local scores and standings)."""

    def global_scores(self) -> dict[str, float]:
        """Global (EigenTrust) scores as published; {} while none are known."""


class ConsoleNode(NodeCore, Protocol):
    """What the console reads of a node (the daemon's ``Node`` satisfies it): when it
    started (epoch seconds), its live ``events`` feed behind ``GET /events``, its recent
    ``answers`` with provenance, its trust wiring and its status."""

    started_at: float
    events: EventBus
    answers: AnswerLog

    @property
    def trust(self) -> ConsoleTrust | None:
        """None on a node without trust wiring: the trust section then replays evidence only."""

    def status(self) -> dict[str, object]:
        """The node's ``GET /status`` body."""


class ConsoleData:
    """Snapshots of one node for the console; holds the incremental trust replay."""

    def __init__(self, node: ConsoleNode) -> None:
        self.node = node
        book = _live_book(node)
        self.timeline = TrustTimeline(book.params if book is not None else None)

    # ---------------------------------------------------------------- whole view
    def state(self) -> dict[str, object]:
        """Every section at once (``GET /console/state``); a failing section carries its error."""
        status = self._status()
        trust = self._section("trust", lambda: self.trust(known_peers(status)))
        return {
            "generated_at": time.time(),
            "node": self._section("node", lambda: self.node_info(status)),
            "modes": _modes(),
            "topology": self._section("topology", lambda: self.topology(status, trust)),
            "answers": self._section("answers", self.answers),
            "tasks": self._section("tasks", self.tasks),
            "trust": trust,
            "training": self._section("training", self.training),
            "events": self._section("events", self.events_info),
        }

    def _section(self, name: str, build: Callable[[], object]) -> JsonValue:
        try:
            return json_safe(build())
        except Exception as exc:  # one broken part must not blank the console
            log.warning("console section failed", extra={"section": name, "error": repr(exc)})
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _status(self) -> dict[str, object]:
        try:
            status = self.node.status()
            return dict(status) if isinstance(status, dict) else {}
        except Exception as exc:
            log.warning("node status failed", extra={"error": repr(exc)})
            return {"peer_id": self.node.peer_id}

    # ---------------------------------------------------------------- sections
    def node_info(self, status: Mapping[str, object]) -> dict[str, object]:
        """This node: identity, model, queue, tags, whether the API needs a token."""
        ads = self.node.config.ads
        return {
            "peer_id": status.get("peer_id", self.node.peer_id),
            "network": status.get("network", ""),
            "api_url": status.get("api_url", ""),
            "uptime_s": status.get("uptime_s"),
            "started_at": self.node.started_at,
            "model": status.get("model", {}),
            "queue": status.get("queue", {}),
            "accepting": status.get("accepting", True),
            "rss_mb": status.get("rss_mb"),
            "tags": list(ads.tags or ()),
            "skills": list(ads.skills or ()),
            "token_required": bool(self.node.config.api_token),
        }

    def topology(self, status: Mapping[str, object], trust: object) -> dict[str, object]:
        """Self plus every peer with a fresh ad or a live connection; edges are connections."""
        me = status.get("peer_id", self.node.peer_id)
        connected = [p for p in as_list(status.get("connected")) if isinstance(p, str) and p != me]
        trust_of = as_object(as_object(trust).get("peers"))
        model = as_object(status.get("model"))
        queue = as_object(status.get("queue"))
        tags = list(self.node.config.ads.tags or ())
        nodes = [{
            "peer_id": me,
            "self": True,
            "connected": True,
            "model": model.get("name", "?"),
            "family": model.get("family"),
            "params_m": model.get("params_m"),
            "gen_tps": model.get("gen_tps"),
            "prompt_tps": model.get("prompt_tps"),
            "queue_depth": queue.get("depth"),
            "max_queue": queue.get("max"),
            "load": queue.get("load"),
            "cost_per_1k": model.get("cost_per_1k"),
            "tags": tags,
            "tier": peer_tier(tags, model.get("params_m")),
            "trust": None,
        }]
        seen = {me}
        now = time.time()
        for item in as_list(status.get("peers")):
            ad = as_object(item)
            peer = ad.get("peer_id")
            if not isinstance(peer, str) or peer in seen:
                continue
            seen.add(peer)
            first = as_object((as_list(ad.get("models")) or [{}])[0])
            expires_at = ad.get("expires_at")
            nodes.append({
                "peer_id": peer,
                "self": False,
                "connected": peer in connected,
                "model": first.get("name", "?"),
                "family": first.get("family"),
                "params_m": first.get("params_m"),
                "gen_tps": first.get("gen_tps"),
                "prompt_tps": first.get("prompt_tps"),
                "queue_depth": ad.get("queue_depth"),
                "max_queue": ad.get("max_queue"),
                "load": ad.get("load"),
                "cost_per_1k": ad.get("cost_per_1k"),
                "tags": as_list(ad.get("tags")),
                "skills": as_list(ad.get("skills")),
                "training": ad.get("training"),
                "tier": peer_tier(ad.get("tags"), first.get("params_m")),
                "expires_in_s": round(expires_at - now, 1) if isinstance(expires_at, int | float) else None,
                "trust": trust_of.get(peer),
            })
        for peer in connected:
            if peer not in seen:  # connected, but no ad yet (or not a peermind node)
                seen.add(peer)
                nodes.append({"peer_id": peer, "self": False, "connected": True, "model": "?",
                              "tier": "unknown", "tags": [], "trust": trust_of.get(peer)})
        edges = [{"source": me, "target": p} for p in connected]
        return {"self": me, "nodes": nodes, "edges": edges}

    def answers(self) -> list[dict[str, object]]:
        """The most recent answers, newest first."""
        return self.node.answers.recent(RECENT_ANSWERS)

    def tasks(self) -> list[dict[str, object]]:
        """The most recent tasks this node served or sent."""
        return [_plain(t) for t in self.node.store.recent_tasks(RECENT_TASKS)]

    def trust(self, known: Iterable[str] = ()) -> dict[str, object]:
        """Replayed local reputation over time, overlaid with the live book and global trust.

        ``known`` peers (ads, connections) get a row from the live book even before any
        evidence, so a newcomer shows its prior score rather than "n/a".
        """
        self.timeline.update(self.node.store)
        peers = self.timeline.peers()
        book = _live_book(self.node)
        global_scores = _global_scores(self.node)
        me = self.node.peer_id
        extra = set(known) if book is not None else set()
        for peer in (set(peers) | set(global_scores) | extra) - {me}:
            entry = peers.setdefault(peer, {"score": None, "standing": None, "history": [], "evidence": {}})
            entry["source"] = "replay"
            if book is not None:
                try:
                    entry["score"] = round(float(book.score(peer)), 4)
                    entry["standing"] = book.standing(peer).value
                    entry["source"] = "live"
                except Exception as exc:
                    log.debug("live reputation book failed", extra={"error": repr(exc)})
            entry["global"] = global_scores.get(peer)
        return {
            "peers": peers,
            "thresholds": self.timeline.thresholds(),
            "live_book": book is not None,
            "global_available": bool(global_scores) or self.node.trust is not None,
            "unscored": self.timeline.unscored,
        }

    def training(self) -> dict[str, object]:
        """The most recent federated rounds, all roles."""
        return {"rounds": [_plain(r) for r in self.node.store.rounds(RECENT_ROUNDS)]}

    def events_info(self) -> dict[str, object]:
        """The event bus's counters (last id, subscribers, published, dropped)."""
        bus = self.node.events
        return {"available": True, "last_id": bus.last_id, "subscribers": bus.subscriber_count,
                "published": bus.published, "dropped": bus.dropped}


# -------------------------------------------------------------------- helpers
def known_peers(status: Mapping[str, object]) -> set[str]:
    """Peers this node knows from its status: connected ones and those with a fresh ad."""
    known = {p for p in as_list(status.get("connected")) if isinstance(p, str)}
    ids = (as_object(a).get("peer_id") for a in as_list(status.get("peers")))
    return known | {p for p in ids if isinstance(p, str)}


def _plain(record: object) -> dict[str, object]:
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if isinstance(record, Mapping):
        return dict(record)
    return {k: v for k, v in vars(record).items() if not k.startswith("_")}


def _modes() -> list[str]:
    try:
        from ..collab.constraints import MODES
    except ImportError:
        return ["auto", "local", "route"]
    return list(MODES)


def _live_book(node: ConsoleNode) -> ReputationBook | None:
    trust = node.trust
    return trust.book if trust is not None else None


def _global_scores(node: ConsoleNode) -> dict[str, float]:
    """Global (EigenTrust) scores as the trust wiring publishes them; {} means "n/a"."""
    trust = node.trust
    if trust is None:
        return {}
    try:
        return _scores(trust.global_scores())
    except Exception as exc:
        log.debug("global trust scores failed", extra={"error": repr(exc)})
        return {}


def _scores(value: object) -> dict[str, float]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): round(float(v), 4) for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)}
