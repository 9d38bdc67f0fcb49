"""What a router's weights mean: the feature schema and the local feedback row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._errors import IncompatibleWeights, InvalidFeedback

EMBED_DIM = 384
"""Width of all-MiniLM-L6-v2 sentence embeddings."""


@dataclass(frozen=True, slots=True)
class FeatureSchema:
    """Identifies a router's input space and output heads.

    Two routers can exchange weights only when their schemas are equal: the
    ``version`` changes whenever the embedding model or feature pipeline does,
    and ``model_keys`` fixes the order of the per-model heads.
    """

    version: int
    embed_dim: int = EMBED_DIM
    model_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.version, int) or self.version < 0:
            raise IncompatibleWeights(f"schema version must be an int >= 0, got {self.version!r}")
        if not isinstance(self.embed_dim, int) or self.embed_dim <= 0:
            raise IncompatibleWeights(f"embed_dim must be a positive int, got {self.embed_dim!r}")
        keys = tuple(self.model_keys)
        object.__setattr__(self, "model_keys", keys)
        if not keys:
            raise IncompatibleWeights("a router schema needs at least one model key")
        if any(not isinstance(k, str) or not k for k in keys):
            raise IncompatibleWeights(f"model keys must be non-empty strings, got {keys!r}")
        if len(set(keys)) != len(keys):
            raise IncompatibleWeights(f"model keys must be unique, got {keys!r}")

    def index(self, model_key: str) -> int | None:
        """Head index of ``model_key``, or None when the schema has no such head."""
        try:
            return self.model_keys.index(model_key)
        except ValueError:
            return None

    def require_equal(self, other: FeatureSchema, *, what: str = "weights") -> None:
        """Raise IncompatibleWeights naming the first difference to ``other``."""
        if self == other:
            return
        for name in ("version", "embed_dim", "model_keys"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                raise IncompatibleWeights(
                    f"{what} have {name}={theirs!r} but this node expects {mine!r}; "
                    "retrain or fetch weights for the current schema"
                )


@dataclass(frozen=True, slots=True, eq=False)
class FeedbackRow:
    """One observed outcome: did ``model_key`` answer the query with this embedding correctly?

    Rows stay on the node that observed them (SQLite); only weights trained on
    them leave the node.
    """

    embedding: np.ndarray
    model_key: str
    correct: bool
    weight: float = 1.0
    query_id: str = ""

    def __post_init__(self) -> None:
        emb = np.asarray(self.embedding, dtype=np.float32)
        if emb.ndim != 1:
            raise InvalidFeedback(f"embedding must be 1-D, got shape {emb.shape}")
        if not np.all(np.isfinite(emb)):
            raise InvalidFeedback("embedding contains NaN or infinite values")
        if not isinstance(self.model_key, str) or not self.model_key:
            raise InvalidFeedback(f"model_key must be a non-empty string, got {self.model_key!r}")
        weight = float(self.weight)
        if not np.isfinite(weight) or weight < 0:
            raise InvalidFeedback(f"weight must be finite and >= 0, got {self.weight!r}")
        object.__setattr__(self, "embedding", emb)
        object.__setattr__(self, "correct", bool(self.correct))
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "query_id", str(self.query_id))
