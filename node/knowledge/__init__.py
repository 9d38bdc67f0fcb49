"""Knowledge peers: a local corpus that never leaves the node, and retrieval for its tasks.

Documents are chunked, embedded with the node's MiniLM and kept in ``knowledge.db`` in
the data directory (``store``, ``indexer``); tasks this node serves get the top
passages in their prompt and cite them by id (``service``); the ad carries a summary of
centroids, never text (``summary``). Routers score peers against that summary.
"""

from .errors import CorpusTooLarge, KnowledgeError, NotADocumentsDir, UnknownDocument
from .indexer import IndexLimits, IndexReport, doc_id_for, index_path
from .prompting import context_block, grounded
from .service import Grounded, KnowledgeService, KnowledgeSettings, Retrieved
from .store import KnowledgeStore
from .summary import match, summarise

__all__ = [
    "CorpusTooLarge",
    "Grounded",
    "IndexLimits",
    "IndexReport",
    "KnowledgeError",
    "KnowledgeService",
    "KnowledgeSettings",
    "KnowledgeStore",
    "NotADocumentsDir",
    "Retrieved",
    "UnknownDocument",
    "context_block",
    "doc_id_for",
    "grounded",
    "index_path",
    "match",
    "summarise",
]
