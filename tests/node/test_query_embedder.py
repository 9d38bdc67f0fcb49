"""The query embedder computes a question's vector once and lets routing pass background batches."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import trio
from peermind.node.collab import QueryEmbedder


class _CountingEncoder:
    """Counts single-query calls; ``encode`` (batches) blocks until released."""

    def __init__(self) -> None:
        self.single_calls = 0
        self.batch_entered = threading.Event()
        self.release = threading.Event()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.batch_entered.set()
        self.release.wait(10)
        return np.ones((len(texts), 384), dtype=np.float32) / np.sqrt(384)

    def encode_one(self, text: str) -> np.ndarray:
        self.single_calls += 1
        v = np.zeros(384, dtype=np.float32)
        v[hash(text) % 384] = 1.0
        return v

    def token_counts(self, texts: Sequence[str]) -> tuple[list[int], int]:
        return [len(t.split()) for t in texts], 256


def test_a_question_is_embedded_once_for_routing_and_its_feedback_row() -> None:
    encoder = _CountingEncoder()
    embedder = QueryEmbedder(encoder)

    async def main() -> None:
        first = await embedder.embed("What is the boiling point of water?")
        again = await embedder.embed("What is the boiling point of water?")  # the feedback row's turn
        other = await embedder.embed("Who wrote Hamlet?")
        assert np.array_equal(first, again) and not np.array_equal(first, other)

    trio.run(main)
    assert encoder.single_calls == 2
    assert embedder.cache_hits == 1


def test_routing_does_not_queue_behind_a_background_batch() -> None:
    encoder = _CountingEncoder()
    embedder = QueryEmbedder(encoder)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(embedder.embed_many, ["seed item"] * 8)
            await trio.to_thread.run_sync(encoder.batch_entered.wait, 5)
            with trio.fail_after(5):  # the batch still holds its limiter
                vec = await embedder.embed("a user's question")
            assert vec.shape == (384,)
            assert not encoder.release.is_set()
            encoder.release.set()

    trio.run(main)
