"""Streamed answers on ``/peermind/task/1.0.0``: signed ``task.chunk`` frames before the result.

A requester that sets ``stream = true`` in its ``task.request`` may receive any number of
``task.chunk`` frames (``seq`` 0, 1, 2, ...) before the one ``task.result`` or
``task.refusal``. Each chunk is its own signed envelope, so a relayed token is attributable
the moment it arrives; the final result still signs the whole text, and ``ChunkAssembler``
checks that the chunks concatenate to it. A mismatch is provable misbehaviour of the
signer (both sides are signed), so it is a ``ProtocolError`` with ``sender`` set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from ._errors import ProtocolError
from ._fields import KIB, TaskId
from ._schema import Limits, Message
from ._schemas_task import MAX_TEXT, TaskRefusal, TaskResult

MAX_CHUNK_TEXT = 16 * KIB
"""One chunk carries at most this many UTF-8 bytes (a worker coalesces tokens up to it)."""
MAX_CHUNK_SEQ = MAX_TEXT - 1
"""Every chunk holds at least one byte of a text of at most MAX_TEXT bytes."""


@dataclass(frozen=True, kw_only=True)
class TaskChunk(Message):
    """A piece of a streamed answer, in order; the final ``task.result`` covers all of them."""

    TYPE: ClassVar[str] = "task.chunk"

    task_id: TaskId
    seq: Annotated[int, Limits(ge=0, le=MAX_CHUNK_SEQ)]
    """0 for the first chunk of a task, then +1 per chunk, no gaps."""
    text: Annotated[str, Limits(min_len=1, max_len=MAX_CHUNK_TEXT)]


class StreamViolation(ProtocolError):
    """A chunk sequence that breaks the streaming rules (order, task, size, final text)."""


class ChunkOutOfOrder(StreamViolation):
    """A chunk for another task, with a ``seq`` other than the next one, or one too many."""


class ChunkTextMismatch(StreamViolation):
    """The chunks do not concatenate to the signed result's text (or precede a score result)."""


@dataclass
class ChunkAssembler:
    """The requester's checks on one streamed reply: feed chunks as they arrive, then finish.

    ``max_chunks`` bounds the signature checks a peer can make us do (a worker sends at most
    one chunk per generated token, plus one); ``sender`` is the verified signer, for evidence.
    """

    task_id: bytes
    max_chunks: int
    sender: bytes | None = None
    text: str = ""
    count: int = 0
    _bytes: int = 0

    def feed(self, chunk: TaskChunk) -> str:
        """Accept the next chunk and return its text; raises ``ChunkOutOfOrder``."""
        if chunk.task_id != self.task_id:
            raise ChunkOutOfOrder("chunk for a different task", sender=self.sender)
        if chunk.seq != self.count:
            raise ChunkOutOfOrder(f"chunk seq {chunk.seq}, expected {self.count}", sender=self.sender)
        if self.count >= self.max_chunks:
            raise ChunkOutOfOrder(f"more than {self.max_chunks} chunks", sender=self.sender)
        self._bytes += len(chunk.text.encode("utf-8"))
        if self._bytes > MAX_TEXT:
            raise ChunkOutOfOrder(f"chunks exceed {MAX_TEXT} bytes of text", sender=self.sender)
        self.count += 1
        self.text += chunk.text
        return chunk.text

    def finish(self, final: TaskResult | TaskRefusal) -> None:
        """Check the final message against the chunks; raises ``ChunkTextMismatch``.

        A refusal may end a stream at any point (the worker failed mid-generation). A result
        after chunks must carry exactly their concatenation; a result without chunks is a
        worker that did not stream (allowed: streaming is a request, not a requirement).
        """
        if isinstance(final, TaskRefusal) or self.count == 0:
            return
        if final.scores:
            raise ChunkTextMismatch("chunks before a score result", sender=self.sender)
        if final.text != self.text:
            raise ChunkTextMismatch(
                f"the result's text ({len(final.text)} chars) differs from its {self.count} chunks "
                f"({len(self.text)} chars)", sender=self.sender)
