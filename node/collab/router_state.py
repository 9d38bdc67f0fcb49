"""The node's current router: weights, what they were trained on, and the cascade calibration.

``RouterHolder`` is the one place that knows which ``RouterModel`` answers routing
questions right now. It loads the active weights from the store at start and persists
every swap, so a restart keeps the last adopted router.

Public API (for the federated-training code and the collaboration policies)::

    holder = node.router                       # a RouterHolder
    holder.model -> RouterModel                # current weights (do not mutate; copy())
    holder.schema -> FeatureSchema             # input space + model keys of the heads
    holder.trained_heads() -> set[str]         # heads with non-zero weights
    holder.predict(embedding) -> dict[str, float]   # P(correct) of each TRAINED head
    holder.adopt(model, source, metrics=None, calibration=None) -> int
        # swap in ``model`` (e.g. after a federated round), persist it as the active
        # version and return that version; calibration is kept unless given
    holder.set_calibration(calibration) -> int  # new thresholds, same weights
    holder.calibration -> Calibration          # cascade thresholds, cost weight
    holder.status() -> dict                    # for `peermind router status`
    training_rows(store) -> (train, validation) # FeedbackRow lists from the local store

Feedback rows never leave the node; only weights do (through federated training).
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from peermind.federated import NPY_LOCK, FeatureSchema, FederatedError, FeedbackRow, RouterModel

from ..errors import NodeError
from ..labelled_rows import DEFAULT_VALIDATION_FRACTION
from ..store import Store, labelled_split

log = logging.getLogger("peermind.node.collab.router")

SCHEMA_VERSION = 1
DEFAULT_MODEL_KEYS = ("smollm2", "gemma3-270m")
DEFAULT_SCHEMA = FeatureSchema(version=SCHEMA_VERSION, model_keys=DEFAULT_MODEL_KEYS)
BLOB_FORMAT = "peermind-router-npz"


@dataclass(frozen=True)
class Calibration:
    """Decisions tuned on the validation split, stored next to the weights.

    ``thresholds[model][kind]``: a cascade escalates an answer of ``model`` whose
    confidence is below this (kind = "score" | "generate"). ``cost_weight``: the route
    utility's lambda. ``targets`` records what they were tuned for.
    """

    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    cost_weight: float | None = None
    targets: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, object] = field(default_factory=dict)
    calibrated_at: float = 0.0

    def threshold(self, model: str, kind: str) -> float | None:
        """The confidence below which ``model``'s answers of ``kind`` escalate, if calibrated."""
        return self.thresholds.get(model, {}).get(kind)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Calibration:
        """A calibration from its stored JSON (empty when none was saved)."""
        if not data:
            return cls()
        thresholds = {
            str(m): {str(k): float(v) for k, v in kinds.items()}
            for m, kinds in dict(data.get("thresholds", {})).items()
        }
        cw = data.get("cost_weight")
        return cls(
            thresholds=thresholds,
            cost_weight=None if cw is None else float(cw),
            targets={str(k): float(v) for k, v in dict(data.get("targets", {})).items()},
            metrics=dict(data.get("metrics", {})),
            calibrated_at=float(data.get("calibrated_at", 0.0)),
        )


class RouterStateError(NodeError):
    """Stored router weights could not be read."""


def encode_router(model: RouterModel) -> bytes:
    """The router's weights as bytes for the store."""
    w, b = model.to_arrays()
    buf = io.BytesIO()
    np.savez(buf, weights=w, bias=b)
    return buf.getvalue()


def decode_router(blob: bytes, meta: Mapping[str, Any]) -> RouterModel:
    """The router stored as ``blob`` with its schema in ``meta``."""
    try:
        schema = FeatureSchema(
            version=int(meta["schema_version"]),
            embed_dim=int(meta["embed_dim"]),
            model_keys=tuple(str(k) for k in meta["model_keys"]),
        )
        with NPY_LOCK, np.load(io.BytesIO(blob), allow_pickle=False) as data:
            return RouterModel(schema, np.array(data["weights"]), np.array(data["bias"]))
    except (KeyError, TypeError, ValueError, OSError, FederatedError) as exc:
        raise RouterStateError(f"stored router weights are unreadable: {exc}") from exc


class RouterHolder:
    """Holds the active router and its calibration; see the module docstring for the API."""

    def __init__(self, store: Store | None, schema: FeatureSchema = DEFAULT_SCHEMA) -> None:
        self._store = store
        self._model = RouterModel(schema)
        self._calibration = Calibration()
        self.version = 0
        self.source = "untrained"
        self.metrics: dict[str, object] = {}
        self.adopted_at = 0.0
        self._trained: set[str] = set()
        if store is not None:
            self._load()

    # ------------------------------------------------------------------ read
    @property
    def model(self) -> RouterModel:
        """The router in use."""
        return self._model

    @property
    def schema(self) -> FeatureSchema:
        """The feature layout of the router in use."""
        return self._model.schema

    @property
    def calibration(self) -> Calibration:
        """The thresholds and cost weight in use."""
        return self._calibration

    def trained_heads(self) -> set[str]:
        """Models the router has a trained head for (the others are explored)."""
        return set(self._trained)

    def predict(self, embedding: np.ndarray) -> dict[str, float]:
        """P(correct) for every trained head (empty before any training)."""
        if not self._trained:
            return {}
        probs = self._model.predict_all(embedding)
        return {k: float(v) for k, v in probs.items() if k in self._trained}

    # ------------------------------------------------------------------ write
    def adopt(
        self,
        model: RouterModel,
        source: str,
        *,
        metrics: Mapping[str, object] | None = None,
        calibration: Calibration | None = None,
    ) -> int:
        """Make ``model`` the active router, persist it, and return its stored version."""
        if not isinstance(model, RouterModel):
            raise TypeError(f"adopt() takes a RouterModel, got {type(model).__name__}")
        cal = calibration if calibration is not None else self._calibration
        meta = self._meta(model, source, metrics or {}, cal)
        version = self.version + 1
        if self._store is not None:
            version = self._store.save_router_weights(encode_router(model), meta)
        self._install(model.copy(), meta, version)
        log.info("router adopted", extra={"source": source, "version": version, "heads": ",".join(sorted(self._trained))})
        return version

    def set_calibration(self, calibration: Calibration) -> int:
        """Persist new thresholds / cost weight with the current weights."""
        return self.adopt(self._model, self.source, metrics=self.metrics, calibration=calibration)

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, object]:
        """The router's version, source, metrics and calibration, for the API."""
        return {
            "version": self.version,
            "source": self.source,
            "adopted_at": self.adopted_at,
            "schema": {
                "version": self.schema.version,
                "embed_dim": self.schema.embed_dim,
                "model_keys": list(self.schema.model_keys),
            },
            "trained_heads": sorted(self._trained),
            "metrics": self.metrics,
            "calibration": asdict(self._calibration),
        }

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _meta(model: RouterModel, source: str, metrics: Mapping[str, object], cal: Calibration) -> dict[str, object]:
        return {
            "format": BLOB_FORMAT,
            "schema_version": model.schema.version,
            "embed_dim": model.schema.embed_dim,
            "model_keys": list(model.schema.model_keys),
            "source": source,
            "metrics": json_safe(dict(metrics)),
            "calibration": json_safe(asdict(cal)),
            "adopted_at": time.time(),
        }

    def _install(self, model: RouterModel, meta: Mapping[str, Any], version: int) -> None:
        self._model = model
        self._calibration = Calibration.from_json(meta.get("calibration"))
        self.version = version
        self.source = str(meta.get("source", "unknown"))
        self.metrics = dict(meta.get("metrics", {}))
        self.adopted_at = float(meta.get("adopted_at", 0.0))
        w, b = model.to_arrays()
        self._trained = {k for i, k in enumerate(model.model_keys) if np.any(w[i] != 0) or b[i] != 0}

    def _load(self) -> None:
        assert self._store is not None
        try:
            stored = self._store.active_router_weights()
        except NodeError:
            log.exception("could not read router weights; starting untrained")
            return
        if stored is None or stored.schema.get("format") != BLOB_FORMAT:
            return
        try:
            model = decode_router(stored.blob, stored.schema)
        except RouterStateError:
            log.exception("ignoring damaged router weights; starting untrained")
            return
        self._install(model, stored.schema, stored.version)


def training_rows(store: Store, embed_dim: int = DEFAULT_SCHEMA.embed_dim,
                  fraction: float = DEFAULT_VALIDATION_FRACTION) -> tuple[list[FeedbackRow], list[FeedbackRow]]:
    """(train, validation) rows with a known outcome from this node's feedback table.

    Split by the one rule (``peermind.node.store.labelled_split``) that federated
    adoption uses too: seed rows keep their benchmark split, every other row goes by a
    hash of its query id.
    """
    return labelled_split(store.feedback_rows(), fraction, embed_dim)


def json_safe(value: object) -> object:
    """``value`` with NaN/inf as None and numpy scalars as Python ones (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
