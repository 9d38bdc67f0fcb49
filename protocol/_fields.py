"""Reusable annotated field types shared by several schema families.

Naming a constraint once (a task ID is exactly 16 bytes, a peer is a
base58 string) keeps the families consistent and SPEC.md short.
"""

from __future__ import annotations

from typing import Annotated

from ._schema import Limits

KIB = 1024
MIB = 1024 * KIB
INT64_MAX = 2**63 - 1

B58_PATTERN = r"[1-9A-HJ-NP-Za-km-z]+"

TaskId = Annotated[bytes, Limits(min_len=16, max_len=16)]
"""Random 16-byte task identifier chosen by the asker."""

PeerText = Annotated[str, Limits(min_len=1, max_len=128, pattern=B58_PATTERN)]
"""A peer ID in base58btc text form (``12D3KooW...``)."""

ModelName = Annotated[str, Limits(max_len=128)]
"""A model name; empty means "the node's default"."""

EpochMs = Annotated[int, Limits(ge=0, le=INT64_MAX)]
"""Absolute time in milliseconds since the Unix epoch."""

Count = Annotated[int, Limits(ge=0, le=INT64_MAX)]
"""A non-negative counter."""

NonNegFloat = Annotated[float, Limits(ge=0.0, le=1e12)]
"""Costs, latencies and rates: finite and >= 0."""

Unit = Annotated[float, Limits(ge=0.0, le=1.0)]
"""A probability or trust value in [0, 1]."""

Label = Annotated[str, Limits(max_len=64)]
"""Short free-form identifiers (tags, skills, modes, strategies)."""

TaskKind = Annotated[str, Limits(one_of=("generate", "score"))]
"""``generate``: produce text; ``score``: log-probabilities of continuations."""
