"""Typed errors of the knowledge package (the CLI turns each into one line)."""

from __future__ import annotations

from ..errors import NodeError


class KnowledgeError(NodeError):
    """Something about this node's local corpus went wrong."""


class CorpusTooLarge(KnowledgeError):
    """Indexing stopped at the configured corpus limit; what was indexed before it stays."""


class NotADocumentsDir(KnowledgeError):
    """The path given to index is missing or not a directory or file."""


class UnknownDocument(KnowledgeError):
    """``docs remove`` named no indexed document."""
