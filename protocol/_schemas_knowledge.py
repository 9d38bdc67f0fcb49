"""Knowledge peers on the wire: a corpus summary in the ad, citations and evidence in results.

A node may hold documents that never leave it. Its ad carries only a summary of what it
knows (a few centroids of its chunk embeddings with counts, optionally noised, and
declared topic tags), never text; a result names the passages it used by document and
chunk id. Passage text travels only in ``TaskResult.passages``, which a worker fills
solely when the request asked for evidence and its own policy allows sharing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from ._fields import Count, Label
from ._schema import Limits, Message

SUMMARY_DIMS = 384
"""Centroid length: the all-MiniLM-L6-v2 embedding the network routes with."""
MAX_CENTROIDS = 8
MAX_CITATIONS = 16
MAX_PASSAGES = 8
MAX_PASSAGE_BYTES = 1024


@dataclass(frozen=True, kw_only=True)
class KnowledgeCentroid(Message):
    """One cluster of a corpus: its mean chunk embedding, int8-quantised, and its size."""

    vector: Annotated[bytes, Limits(min_len=SUMMARY_DIMS, max_len=SUMMARY_DIMS)]
    """384 signed bytes: round(127 * component) of the unit-norm centroid."""
    count: Annotated[int, Limits(ge=0, le=10_000_000)] = 0
    """Chunks in the cluster (noised when the summary is)."""


@dataclass(frozen=True, kw_only=True)
class KnowledgeSummary(Message):
    """What a peer's local corpus is about, without any of its text."""

    centroids: Annotated[list[KnowledgeCentroid], Limits(max_items=MAX_CENTROIDS)] = field(default_factory=list)
    topics: Annotated[list[Label], Limits(max_items=16)] = field(default_factory=list)
    """Topic tags the operator declared (free-form)."""
    chunks: Count = 0
    """Chunks in the corpus (rounded to a multiple of 10 when noised)."""
    noised: bool = False
    """True if Gaussian noise was added to the centroids and counts."""


@dataclass(frozen=True, kw_only=True)
class Citation(Message):
    """A passage a worker's answer drew on, by id only."""

    doc: Annotated[str, Limits(min_len=1, max_len=64)]
    """Opaque document id (a hash; the document's name stays on its node)."""
    chunk: Annotated[int, Limits(ge=0, le=10_000_000)]
    similarity: Annotated[float, Limits(ge=-1.0, le=1.0)] = 0.0


Passage = Annotated[str, Limits(max_len=MAX_PASSAGE_BYTES)]
