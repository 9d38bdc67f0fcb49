"""Which router this node uses now, and how an adopted one is installed.

The node's ``RouterHolder`` (``node.router``, from the collaboration package)
owns the active router and persists it (``store.save_router_weights`` /
``active_router_weights``). Training only reads it and hands it adopted
models, so the persistence format stays in one place.
"""

from __future__ import annotations

from collections.abc import Mapping

from peermind.federated import RouterModel

from ..collab.router_state import RouterHolder


def starting_router(holder: RouterHolder) -> RouterModel:
    """The router a run starts from: the current one (trained or not; it fixes the schema)."""
    return holder.model.copy()


def current_router(holder: RouterHolder) -> RouterModel | None:
    """The router this node routes with, or None while it is untrained."""
    return holder.model.copy() if holder.trained_heads() else None


def install_router(holder: RouterHolder, model: RouterModel, source: str, metrics: Mapping[str, object]) -> int:
    """Make ``model`` this node's router (persisted); returns the stored version."""
    return holder.adopt(model, source, metrics=metrics)


def schema_json(model: RouterModel) -> dict[str, object]:
    """The router's schema (version, embedding size, model keys) as JSON."""
    schema = model.schema
    return {"version": schema.version, "embed_dim": schema.embed_dim, "model_keys": list(schema.model_keys)}
