"""What each collaboration mode streams, and the one entry point that streams an answer.

Modes in which one peer's generation *is* the answer stream its tokens live: ``route``,
``local``, ``auction``, ``consult`` (its evidence is gathered in parallel tasks, which never
stream; the answer written with it does), and ``auto`` when it will not escalate (no
prediction of quality yet: it routes once and keeps the answer). Answers produced in
parallel tasks never stream live (``p2p.live``): when ``route`` explores an unproven peer
alongside a proven one, the delivered answer follows once both are in. Modes that decide after seeing whole answers
(``cascade``, ``vote``, ``moa``, and ``auto`` with predictions, which may escalate) stream
the answer they finally choose, as one piece once it is chosen: text sent to the client
cannot be taken back, so nothing is sent before the decision. The policy reports its
decision through ``note_decision``, right after ranking the candidates.

A live stream that breaks (the answering peer dies, refuses or lies mid-answer) ends the
request with an error; the collaborator's usual fallback to the next peer applies only
before the first token reached the client (see ``p2p.live``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..p2p.live import TextSink, defer_live_text, streaming_to
from .answer import Answer
from .errors import CollaborationError

if TYPE_CHECKING:
    from .policy import QueryContext

DECIDING_MODES = ("cascade", "vote", "moa")
"""Modes that choose among whole answers: never live."""


class StreamDiverged(CollaborationError):
    """The final answer differs from the text already streamed (a bug guard: never expected)."""

    http_status = 502


def note_decision(ctx: QueryContext) -> None:
    """Called by the policy once candidates are ranked: ``auto`` with predictions may escalate."""
    if ctx.mode == "auto" and not ctx.tactics.negotiate and ctx.predictions:
        defer_live_text()


async def stream_answer(ask: Callable[[], Awaitable[Answer]], sink: TextSink, *, mode: str) -> Answer:
    """Run ``ask`` and send its answer's text to ``sink``: live when ``mode`` allows, else once chosen.

    Whatever was not streamed live (a deferred mode, a peer that sent no chunks) follows at
    the end, so the pieces always add up to ``Answer.text``; raises ``StreamDiverged`` when
    they cannot.
    """
    if mode in DECIDING_MODES:
        answer = await ask()
        streamed = ""
    else:
        with streaming_to(sink) as live:
            answer = await ask()
        streamed = live.text
    if not answer.text.startswith(streamed):
        raise StreamDiverged(
            f"the chosen answer differs from the {len(streamed)} characters already streamed; "
            "ask again with stream=false")
    if len(answer.text) > len(streamed):
        await sink(answer.text[len(streamed):])
    return answer
