"""An embedding call abandoned on cancel is waited for before the daemon lets the interpreter finalise.

A worker thread that comes back from onnxruntime while Python finalises is killed inside C++
frames (std::terminate, exit code -6): CI saw it once on a node stopped mid-answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import trio
from peermind.node.collab import QueryEmbedder


class _SlowEncoder:
    """Blocks in ``encode`` until released, like a first onnxruntime call on a busy machine."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = False

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.entered.set()
        self.release.wait(10)
        self.finished = True
        return np.ones((len(texts), 384), dtype=np.float32) / np.sqrt(384)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def token_counts(self, texts: Sequence[str]) -> tuple[list[int], int]:
        return [len(t.split()) for t in texts], 256


def test_close_waits_for_an_abandoned_call_then_drops_the_model() -> None:
    encoder = _SlowEncoder()
    embedder = QueryEmbedder(encoder)

    async def main() -> None:
        with trio.move_on_after(5) as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(embedder.embed, "a question")
                await trio.to_thread.run_sync(encoder.entered.wait, 5)
                nursery.cancel_scope.cancel()  # the daemon stopping: the call is abandoned, its thread runs on
        assert not scope.cancelled_caught

    trio.run(main)
    assert not encoder.finished
    assert embedder.close(timeout_s=0.2) is False  # still inside the encoder: not dropped
    assert embedder.loaded
    threading.Timer(0.3, encoder.release.set).start()
    started = time.monotonic()
    assert embedder.close(timeout_s=5) is True
    assert encoder.finished and 0.2 < time.monotonic() - started < 5
    assert not embedder.loaded


def test_close_of_an_idle_embedder_returns_at_once() -> None:
    embedder = QueryEmbedder(_SlowEncoder())
    assert embedder.close(timeout_s=0) is True
