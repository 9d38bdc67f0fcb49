"""``GET /events``: the node's live event stream as server-sent events.

One stream merges two sources: events the daemon publishes on its bus (a task answered,
a task served, trust evidence, an ad, a training round) as they happen, and the console's
state sections (topology, trust, training) re-read once a second and sent only when they
changed. A comment line every ``heartbeat_s`` keeps proxies and idle timers from closing a
quiet stream. When the bus drops this subscriber for reading too slowly, the stream ends
with a ``dropped`` event; the client re-reads ``/console/state`` and reconnects.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Callable

import trio

from ..events import Event, EventBus, json_safe
from ..json_types import JsonValue, as_list, as_number, as_object
from ._console_state import ConsoleData, known_peers

__all__ = ["HEARTBEAT_S", "TICK_S", "SectionWatcher", "sse_frame", "stream_events"]

HEARTBEAT_S = 15.0
TICK_S = 1.0


def sse_frame(kind: str, data: object, event_id: int | None = None) -> str:
    """One SSE message; JSON never contains a raw newline, so one ``data:`` line suffices."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(json_safe(data), separators=(',', ':'))}\n\n"


class SectionWatcher:
    """Re-reads the console's state sections and reports those that changed since last time."""

    def __init__(self, data: ConsoleData) -> None:
        self._data = data
        self._last: dict[str, str] = {}

    def changed(self) -> list[tuple[str, JsonValue]]:
        """The sections whose content changed since the last call, as (name, new value)."""
        status = self._data._status()
        trust = self._data._section("trust", lambda: self._data.trust(known_peers(status)))
        sections: dict[str, tuple[JsonValue, object]] = {
            "topology": self._pair(lambda: self._data.topology(status, trust), _topology_signature),
            "trust": (trust, _trust_signature(trust)),
            "training": self._pair(self._data.training, lambda t: t),
            "node": self._pair(lambda: self._data.node_info(status), _node_signature),
        }
        out: list[tuple[str, JsonValue]] = []
        for name, (value, signature) in sections.items():
            key = json.dumps(json_safe(signature), sort_keys=True)
            if self._last.get(name) != key:
                self._last[name] = key
                out.append((name, value))
        return out

    def _pair(self, build: Callable[[], object], signature: Callable[[JsonValue], object]) -> tuple[JsonValue, object]:
        value = self._data._section("section", build)
        try:
            return value, signature(value)
        except Exception:  # an error section is its own signature
            return value, value


def _topology_signature(topo: object) -> object:
    """What matters for a redraw: who is there, connected, loaded, priced, trusted (not ad ages)."""
    nodes = [as_object(n) for n in as_list(as_object(topo).get("nodes"))]
    keep = ("peer_id", "connected", "model", "gen_tps", "queue_depth", "load", "cost_per_1k", "tier")
    return [[n.get(k) for k in keep] + [_score(n.get("trust"))] for n in nodes] + [as_object(topo).get("edges")]


def _score(trust: object) -> object:
    return [trust.get("score"), trust.get("standing"), trust.get("global")] if isinstance(trust, dict) else None


def _trust_signature(trust: object) -> object:
    peers = as_object(trust).get("peers", {})
    if not isinstance(peers, dict):
        return trust
    return {p: [round(as_number(v.get("score")), 3), v.get("standing"), as_object(v.get("evidence")).get("total"),
                v.get("global")]
            for p, v in peers.items() if isinstance(v, dict)}


def _node_signature(info: object) -> object:
    if not isinstance(info, dict):
        return info
    return [info.get("queue"), info.get("accepting"), info.get("model")]


async def stream_events(
    bus: EventBus,
    watcher: SectionWatcher | None,
    *,
    after_id: int = 0,
    heartbeat_s: float = HEARTBEAT_S,
    tick_s: float = TICK_S,
) -> AsyncGenerator[str, None]:
    """SSE text for one client until it disconnects or is dropped (see the module docstring).

    The subscription is opened before the first byte is yielded and closed when the
    generator is closed or cancelled, so a gone client frees its slot.
    """
    with bus.subscribe() as sub:
        yield "retry: 2000\n\n"
        yield sse_frame("hello", {"last_id": bus.last_id, "at": time.time()})
        for past in bus.recent(after_id) if after_id else ():
            yield _bus_frame(past)
        next_tick = trio.current_time()
        last_sent = trio.current_time()
        while True:
            now = trio.current_time()
            if watcher is not None and now >= next_tick:
                next_tick = now + tick_s
                for name, value in watcher.changed():
                    yield sse_frame(name, value)
                    last_sent = trio.current_time()
            if now - last_sent >= heartbeat_s:
                yield ": keep-alive\n\n"
                last_sent = now
            wait = max(0.0, min(next_tick if watcher is not None else now + heartbeat_s, last_sent + heartbeat_s) - now)
            event: Event | None = None
            with trio.move_on_after(wait):
                try:
                    event = await sub.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    yield sse_frame("dropped", {"reason": "too slow: the event buffer filled up; re-read /console/state"
                                                if sub.dropped else "the event stream closed"})
                    return
            if event is not None:
                yield _bus_frame(event)
                last_sent = trio.current_time()


def _bus_frame(event: Event) -> str:
    return sse_frame(event.kind, {"id": event.id, "at": event.at, **dict(event.data)}, event.id)
