"""How well a question matches each knowledge peer's corpus summary (routing's knowledge signal).

The router adds ``knowledge_weight * max(0, match - MATCH_FLOOR)`` to a candidate's
utility, where ``match`` is the cosine of the question's embedding with the nearest
centroid of the peer's advertised summary (``knowledge.summary.match``). Cosines of
MiniLM embeddings of unrelated texts sit around 0-0.2, so only the part above the
floor counts as evidence that the peer's documents answer the question.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..knowledge.summary import match
from .candidates import Candidate
from .embedding import QueryEmbedder, query_text

if TYPE_CHECKING:
    from .policy import QueryContext

MATCH_FLOOR = 0.2
DEFAULT_KNOWLEDGE_WEIGHT = 1.0


def match_bonus(similarity: float | None, weight: float) -> float:
    """The routing bonus of a knowledge match: ``weight`` times the similarity above the floor
    (an unrelated corpus adds nothing), 0 without a summary."""
    return weight * max(0.0, similarity - MATCH_FLOOR) if similarity is not None else 0.0


async def knowledge_match(embedder: QueryEmbedder | None, ctx: QueryContext,
                          candidates: Sequence[Candidate]) -> dict[str, float]:
    """peer id -> similarity for candidates that advertise a corpus (empty when none does).

    Embeds the question when the quality step has not; while the embedder loads the
    match is unknown (routing never waits for torch) and the note says so.
    """
    knowing = [c for c in candidates if c.knowledge is not None and c.knowledge.centroids]
    if not knowing or embedder is None:
        return {}
    if ctx.embedding is None:
        if not embedder.ready:
            embedder.request_load()
            ctx.router_note = "prior (embedder loading; knowledge match unknown)"
            return {}
        ctx.embedding = await embedder.embed(query_text(ctx.job))
    return {c.peer_id: round(match(ctx.embedding, c.knowledge), 4) for c in knowing if c.knowledge is not None}
