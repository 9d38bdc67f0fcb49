"""How the daemon uses its knowledge: settings from the config, indexing ``--docs`` at start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..config import NodeConfig
from .errors import KnowledgeError
from .indexer import IndexLimits
from .service import KnowledgeService, KnowledgeSettings

log = logging.getLogger("peermind.node.knowledge")


def knowledge_settings(config: NodeConfig) -> KnowledgeSettings:
    """The service's settings from the node's ``knowledge`` config section."""
    k = config.knowledge
    return KnowledgeSettings(
        limits=IndexLimits(k.chunk_chars, k.max_corpus_bytes, k.max_chunks),
        top_k=k.top_k,
        min_similarity=k.min_similarity,
        share_passages=k.share_passages,
        passage_chars=k.passage_chars,
        summary_centroids=k.summary_centroids,
        summary_noise=k.summary_noise,
        topics=k.topics,
    )


async def index_in_background(service: KnowledgeService, docs: Path | None, request_load: Callable[[], None]) -> None:
    """Index ``docs`` while the node serves (progress in the log); a node with a corpus loads its embedder.

    Errors (a missing folder, the size limit) are logged in one line: the node keeps serving
    with what is indexed.
    """
    if docs is None:
        if service.has_documents:
            request_load()
        return
    try:
        report = await service.index(docs, progress=lambda m: log.info("knowledge: %s", m))
    except KnowledgeError as exc:
        log.error("knowledge: %s", exc)
        return
    log.info("knowledge index ready", extra={"documents": len(service.store.documents()), "summary": report.summary()})
