"""Where the tokens of an answer go while it is produced: a request-scoped live text sink.

The HTTP layer opens one ``LiveText`` per streamed question (``streaming_to``); the task
service, deep below the collaboration modes, asks ``current_live()`` for it and streams the
generation it runs or requests into it. A context variable carries it down so that no mode
has to pass it along, and three rules keep it from reaching the wrong generation:

- only the task that opened it may stream into it (tasks spawned meanwhile, such as the
  parallel asks of a vote or a verification run after the answer, never do);
- one generation at a time (a claim), and once one finished, nothing more (sealed);
- a policy that will still choose among answers defers it (``defer_live_text``): nothing
  streams live, and the HTTP layer sends the chosen answer once it is known;
- once text reached the client, a failure cannot be repaired by asking someone else: the
  claim breaks the sink and the next claim raises ``StreamBroken``, which ends the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType

import trio

from ..errors import NodeError

TextSink = Callable[[str], Awaitable[None]]
"""Receives each piece of an answer's text, in order."""


class StreamBroken(NodeError):
    """Part of an answer was already streamed when its producer failed; the stream cannot go on."""


_LIVE: ContextVar[LiveText | None] = ContextVar("peermind_live_text", default=None)


class LiveText:
    """The sink of one streamed request, with the claim rules of the module docstring."""

    def __init__(self, sink: TextSink) -> None:
        self._sink = sink
        self._task = trio.lowlevel.current_task()
        self._claimed = False
        self.sealed = False
        self.deferred = False
        self.broken = ""
        self.text = ""
        """Everything streamed so far."""

    def claim(self) -> LiveClaim | None:
        """The right to stream one generation, or None (another task, busy, or sealed)."""
        if trio.lowlevel.current_task() is not self._task or self._claimed or self.sealed or self.deferred:
            return None
        if self.broken:
            raise StreamBroken(self.broken)
        self._claimed = True
        return LiveClaim(self)

    async def _emit(self, text: str) -> None:
        if text:
            self.text += text
            await self._sink(text)

    def _release(self, failure: BaseException | None) -> None:
        self._claimed = False
        if failure is None:
            self.sealed = True
        elif self.text:
            self.broken = f"the answer stopped after {len(self.text)} streamed characters: {failure}"


class LiveClaim:
    """One generation's use of a ``LiveText``: ``with claim: ... await claim.emit(text)``."""

    def __init__(self, live: LiveText) -> None:
        self._live = live
        self._failure: BaseException | None = None

    async def emit(self, text: str) -> None:
        """Send ``text`` to the asker as the next signed chunk."""
        await self._live._emit(text)

    def fail(self, detail: str) -> None:
        """The generation ended without an answer (a refusal is a value, not an exception)."""
        self._failure = StreamBroken(detail)

    def __enter__(self) -> LiveClaim:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._live._release(exc or self._failure)


@contextmanager
def streaming_to(sink: TextSink) -> Iterator[LiveText]:
    """Within this block (and this task), generations this node runs or requests stream into ``sink``."""
    live = LiveText(sink)
    token = _LIVE.set(live)
    try:
        yield live
    finally:
        _LIVE.reset(token)


def current_live() -> LiveText | None:
    """The live text stream of the task this trio task serves, if its asker wants tokens as they come."""
    return _LIVE.get()


def defer_live_text() -> None:
    """No live tokens for the rest of this request: the answer is not final when generated."""
    live = _LIVE.get()
    if live is not None and not live.text:
        live.deferred = True
