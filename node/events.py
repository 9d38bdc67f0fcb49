"""The node's live event bus: tasks, served requests, trust evidence, topology and training.

Why a bus with one bounded channel per subscriber: the console (and anything else that
watches a node) must see events as they happen, but a slow or stalled watcher must never
slow the daemon down. ``publish`` therefore never blocks and never raises: it offers each
event to every subscriber with ``send_nowait``, and a subscriber whose buffer is full is
*dropped* (its channel is closed after the events already buffered). The watcher sees its
stream end, re-reads the full state and subscribes again.

``publish`` may be called from the trio thread or from a worker thread (training rounds
run in ``trio.to_thread``): off the trio thread the event is handed over with the run's
``TrioToken.run_sync_soon``, which is thread-safe and does not block either.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import trio

from .errors import NodeError
from .json_types import JsonValue

__all__ = [
    "DEFAULT_BUFFER",
    "DEFAULT_MAX_SUBSCRIBERS",
    "Event",
    "EventBus",
    "EventBusClosed",
    "EventBusError",
    "Subscription",
    "TooManySubscribers",
    "json_safe",
]

log = logging.getLogger("peermind.node.events")

DEFAULT_BUFFER = 256
DEFAULT_MAX_SUBSCRIBERS = 32
DEFAULT_HISTORY = 200


class EventBusError(NodeError):
    """The event bus refused a subscription."""


class TooManySubscribers(EventBusError):
    """Every subscriber slot is taken; close a console tab or raise ``max_subscribers``."""


class EventBusClosed(EventBusError):
    """The node is shutting down and takes no new subscribers."""


@dataclass(frozen=True)
class Event:
    """One thing that happened on the node; ``id`` grows by one per published event."""

    id: int
    kind: str
    at: float
    data: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The event as the console's SSE stream sends it."""
        return {"id": self.id, "kind": self.kind, "at": self.at, "data": dict(self.data)}


class Subscription:
    """A subscriber's end of the bus: iterate it, or ``await receive()``.

    Iteration ends when the subscriber was dropped for falling behind (``dropped`` is then
    True) or when the bus was closed.
    """

    def __init__(self, send: trio.MemorySendChannel[Event], receive: trio.MemoryReceiveChannel[Event]) -> None:
        self._send = send
        self._receive = receive
        self.dropped = False

    async def receive(self) -> Event:
        """The next event; raises ``trio.EndOfChannel`` once the subscription has ended."""
        return await self._receive.receive()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    def _offer(self, event: Event) -> bool:
        """Deliver without waiting; False means the subscriber is gone or too slow."""
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.dropped = True
            self._send.close()
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    def _close(self) -> None:
        self._send.close()
        self._receive.close()


class EventBus:
    """Fan-out of node events to bounded per-subscriber channels (see the module docstring)."""

    def __init__(
        self,
        *,
        buffer: int = DEFAULT_BUFFER,
        max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        if buffer < 1 or max_subscribers < 1 or history < 0:
            raise ValueError("buffer and max_subscribers must be >= 1 and history >= 0")
        self.buffer = buffer
        self.max_subscribers = max_subscribers
        self._subscribers: list[Subscription] = []
        self._ids = itertools.count(1)
        self._history: deque[Event] = deque(maxlen=history)
        self._token: trio.lowlevel.TrioToken | None = None
        self.published = 0
        self.dropped = 0
        self.closed = False

    @property
    def subscriber_count(self) -> int:
        """How many subscribers are connected."""
        return len(self._subscribers)

    @property
    def last_id(self) -> int:
        """The id of the latest event published."""
        return self._history[-1].id if self._history else 0

    def recent(self, after_id: int = 0) -> list[Event]:
        """Kept events with ``id > after_id``, oldest first (catch-up after a reconnect)."""
        return [e for e in list(self._history) if e.id > after_id]

    def publish(self, kind: str, data: Mapping[str, object] | None = None) -> Event:
        """Record and fan out one event. Never blocks, never raises on slow subscribers."""
        event = Event(next(self._ids), kind, time.time(), {str(k): json_safe(v, 1) for k, v in (data or {}).items()})
        self._history.append(event)
        self.published += 1
        if _in_trio_thread():
            self._token = trio.lowlevel.current_trio_token()
            self._deliver(event)
        elif self._token is not None:
            try:
                self._token.run_sync_soon(self._deliver, event)
            except trio.RunFinishedError:
                pass  # the daemon is gone; nobody is listening any more
        return event

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """A new subscription for the duration of the ``with`` block (trio thread only)."""
        if self.closed:
            raise EventBusClosed("the node is shutting down; its event stream has ended")
        if len(self._subscribers) >= self.max_subscribers:
            raise TooManySubscribers(
                f"the node already has {self.max_subscribers} live event subscribers; "
                "close other console tabs or `peermind top` sessions"
            )
        self._token = trio.lowlevel.current_trio_token()
        send, receive = trio.open_memory_channel[Event](self.buffer)
        sub = Subscription(send, receive)
        self._subscribers.append(sub)
        try:
            yield sub
        finally:
            if sub in self._subscribers:
                self._subscribers.remove(sub)
            sub._close()

    def close(self) -> None:
        """End every subscription (each sees its stream end) and refuse new ones; on shutdown,
        so open consoles do not hold the API server open for its whole grace period."""
        self.closed = True
        for sub in self._subscribers:
            sub._send.close()
        self._subscribers.clear()

    def _deliver(self, event: Event) -> None:
        for sub in list(self._subscribers):
            if not sub._offer(event):
                self._subscribers.remove(sub)
                if sub.dropped:
                    self.dropped += 1
                    log.info("dropped a slow event subscriber", extra={"buffer": self.buffer})


def _in_trio_thread() -> bool:
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


def json_safe(value: object, _depth: int = 0) -> JsonValue:
    """A copy of ``value`` that ``json.dumps`` accepts: events cross to browsers as JSON.

    Non-finite floats become None, bytes become hex, unknown objects their ``str``;
    nesting deeper than 12 levels is cut, so a cyclic structure cannot hang the daemon.
    """
    if _depth > 12:
        return None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | deque):
        return [json_safe(v, _depth + 1) for v in value]
    if dataclasses.is_dataclass(value):
        return json_safe({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, _depth + 1)
    return str(value)
