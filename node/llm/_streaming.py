"""Token streaming: text leaves the worker thread as it is generated, and never gets taken back.

The engine knows the stop sequences, so it reports the text that no stop sequence can cut
any more (``committed_text``: a tail that could be the start of a stop string is held back).
The backend knows how the finished text is presented (chat answers are stripped), so
``TextRelay`` turns that committed text into deltas of exactly the text ``generate`` will
return: leading whitespace is dropped and trailing whitespace held until something follows.
The deltas therefore always concatenate to the final ``Generation.text``, which is what a
signed result must match.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import trio

from ._errors import LLMError


def committed_text(text: str, stops: Sequence[str]) -> str:
    """``text`` minus a tail that a later token could complete into one of ``stops``."""
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:k]):
                hold = k
                break
    return text[: len(text) - hold]


def open_delta_channel() -> tuple[trio.MemorySendChannel[str], trio.MemoryReceiveChannel[str]]:
    """An unbounded channel for deltas: the worker thread must never wait for a reader.

    Unbounded is safe: a generation holds at most ``max_tokens`` deltas.
    """
    return trio.open_memory_channel[str](math.inf)


def receive_pending(channel: trio.MemoryReceiveChannel[str]) -> str:
    """Everything already waiting in ``channel`` (coalesces tokens that arrived meanwhile)."""
    parts: list[str] = []
    while True:
        try:
            parts.append(channel.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return "".join(parts)


class TextRelay:
    """Deltas of a generation's final text, sent from its worker thread to a trio channel.

    Built in the trio thread; ``on_text`` runs in the worker thread (it hands each delta to
    trio without waiting); ``finish`` runs in the trio thread after the worker returned,
    when every delta it sent has been delivered (trio runs those callbacks in order, before
    it reports the thread's result).
    """

    def __init__(self, channel: trio.MemorySendChannel[str], *, strip: bool) -> None:
        self._channel = channel
        self._strip = strip
        self._token = trio.lowlevel.current_trio_token()
        self._sent = ""
        self.listening = True
        """False once the reader closed its end: the generation may stop early."""

    def _visible(self, committed: str) -> str:
        return committed.strip() if self._strip else committed

    def on_text(self, committed: str) -> bool:
        """Worker thread: report the committed raw text; False when nobody listens any more."""
        visible = self._visible(committed)
        if len(visible) > len(self._sent) and visible.startswith(self._sent):
            delta = visible[len(self._sent):]
            self._sent = visible
            self._token.run_sync_soon(self._deliver, delta)
        return self.listening

    def finish(self, final_text: str) -> None:
        """Trio thread: send whatever of ``final_text`` was still held back, then close.

        Raises ``LLMError`` if the text sent so far is not a prefix of ``final_text`` (a bug,
        never expected): better a refused task than a stream that contradicts its result.
        """
        try:
            if not final_text.startswith(self._sent):
                raise LLMError("streamed text is not a prefix of the final text; the task was dropped")
            if len(final_text) > len(self._sent):
                self._deliver(final_text[len(self._sent):])
        finally:
            self._channel.close()

    def _deliver(self, delta: str) -> None:
        try:
            self._channel.send_nowait(delta)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.listening = False


TextCallback = Callable[[str], bool]
"""The engine's per-token report: committed raw text in, False to stop generating."""
