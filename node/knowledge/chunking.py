"""Cut a document into retrieval-sized chunks on paragraph, then sentence, boundaries.

MiniLM reads 256 word pieces (about 1,000 characters), so a chunk of ~800 characters
is embedded whole; packing whole paragraphs keeps a passage readable when it is put
into a prompt.
"""

from __future__ import annotations

import re

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Non-empty chunks of at most ``chunk_chars`` characters, in document order."""
    pieces: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if len(paragraph) <= chunk_chars:
            pieces.append(paragraph)
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            pieces.extend(sentence[i:i + chunk_chars] for i in range(0, len(sentence), chunk_chars))
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= chunk_chars:
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks
