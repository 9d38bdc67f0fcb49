"""The router model: P(model answers this query correctly | query embedding).

A multi-head logistic regression, one head (weight vector + bias) per model
key. Chosen because it is tiny (a few kB on the wire per round), convex (FedAvg
of convex local fits behaves well), calibrated by construction (log loss), and
predicts in microseconds, leaving the routing latency budget to the embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np

from ._errors import IncompatibleWeights, InvalidEmbedding, InvalidFeedback
from ._evaluation import evaluate_predictions
from ._router_file import read_router_file, write_router_file
from ._rows import RowBatch, stack_rows
from ._schema import FeatureSchema, FeedbackRow

_LOGIT_CLIP = 30.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -_LOGIT_CLIP, _LOGIT_CLIP)))


def _log_loss(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    if y.size == 0 or w.sum() <= 0:
        return float("nan")
    p = np.clip(p, 1e-7, 1 - 1e-7)
    losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(np.sum(w * losses) / np.sum(w))


class RouterModel:
    """Per-model correctness predictor over query embeddings.

    ``predict`` for a model key the schema does not know returns the
    *unknown-model prior*: the mean of the known heads' probabilities for that
    query ("how likely a typical known model gets it right"), which is 0.5 for
    an untrained router.
    """

    __slots__ = ("_schema", "_w", "_b")

    def __init__(
        self,
        schema: FeatureSchema,
        weights: np.ndarray | None = None,
        bias: np.ndarray | None = None,
    ) -> None:
        k, d = len(schema.model_keys), schema.embed_dim
        w = np.zeros((k, d), np.float32) if weights is None else np.array(weights, np.float32)
        b = np.zeros((k,), np.float32) if bias is None else np.array(bias, np.float32)
        if w.shape != (k, d) or b.shape != (k,):
            raise IncompatibleWeights(
                f"router arrays have shapes {w.shape} and {b.shape}; schema "
                f"v{schema.version} with {k} models x {d} dims needs ({k}, {d}) and ({k},)"
            )
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise IncompatibleWeights("router arrays contain NaN or infinite values")
        self._schema = schema
        self._w = w
        self._b = b

    # --- identity -----------------------------------------------------------

    @property
    def schema(self) -> FeatureSchema:
        return self._schema

    @property
    def model_keys(self) -> tuple[str, ...]:
        return self._schema.model_keys

    def copy(self) -> RouterModel:
        return RouterModel(self._schema, self._w, self._b)

    def __repr__(self) -> str:
        s = self._schema
        return f"RouterModel(v{s.version}, dim={s.embed_dim}, models={list(s.model_keys)})"

    # --- prediction ---------------------------------------------------------

    def _as_matrix(self, emb: np.ndarray) -> tuple[np.ndarray, bool]:
        x = np.asarray(emb, dtype=np.float32)
        single = x.ndim == 1
        if single:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self._schema.embed_dim:
            raise InvalidEmbedding(
                f"embedding has shape {np.shape(emb)}; the router expects "
                f"({self._schema.embed_dim},) or (n, {self._schema.embed_dim})"
            )
        if not np.all(np.isfinite(x)):
            raise InvalidEmbedding("embedding contains NaN or infinite values")
        return x, single

    def _probabilities(self, x: np.ndarray) -> np.ndarray:
        """(n, k) probabilities for every head."""
        return _sigmoid(x.astype(np.float64) @ self._w.T.astype(np.float64) + self._b)

    def predict(self, emb: np.ndarray, model_key: str) -> float | np.ndarray:
        """P(correct) of ``model_key``: a float for one embedding, shape (n,) for n."""
        x, single = self._as_matrix(emb)
        head = self._schema.index(model_key)
        if head is None:
            p = self._probabilities(x).mean(axis=1)
        else:
            p = _sigmoid(x.astype(np.float64) @ self._w[head].astype(np.float64) + self._b[head])
        return float(p[0]) if single else p

    def predict_all(self, emb: np.ndarray) -> dict[str, Any]:
        """P(correct) for every known model: floats for one embedding, arrays for n."""
        x, single = self._as_matrix(emb)
        p = self._probabilities(x)
        if single:
            return {k: float(p[0, i]) for i, k in enumerate(self._schema.model_keys)}
        return {k: p[:, i] for i, k in enumerate(self._schema.model_keys)}

    # --- training -----------------------------------------------------------

    def fit(
        self,
        rows: Sequence[FeedbackRow],
        epochs: int = 30,
        lr: float = 1.0,
        l2: float = 1e-4,
        rng: np.random.Generator | None = None,
        *,
        class_balance: bool = False,
        batch_size: int | None = None,
    ) -> dict[str, float]:
        """Gradient descent on the weighted log loss, in place; returns fit metrics.

        Each head's loss is a weighted *mean* over that head's rows, so a model
        with few observations still learns at the same pace. ``class_balance``
        reweights each head's positives and negatives to equal total weight
        (useful when a model is almost always right or wrong; it trades away
        calibration). ``batch_size=None`` is full-batch GD; otherwise mini-batch
        SGD shuffled by ``rng``.
        """
        if not isinstance(epochs, int) or epochs < 0:
            raise InvalidFeedback(f"epochs must be an int >= 0, got {epochs!r}")
        if not (np.isfinite(lr) and lr > 0 and np.isfinite(l2) and l2 >= 0):
            raise InvalidFeedback(f"need lr > 0 and l2 >= 0, got lr={lr!r}, l2={l2!r}")
        if batch_size is not None and batch_size <= 0:
            raise InvalidFeedback(f"batch_size must be positive or None, got {batch_size!r}")
        batch = stack_rows(rows, self._schema)
        weights = self._row_weights(batch, class_balance)
        loss_before = self._batch_loss(batch)
        rng = rng if rng is not None else np.random.default_rng(0)
        n = batch.size
        if n and weights.sum() > 0:
            w64 = self._w.astype(np.float64)
            b64 = self._b.astype(np.float64)
            x64 = batch.x.astype(np.float64)
            for _ in range(epochs):
                order = rng.permutation(n) if batch_size else np.arange(n)
                step = batch_size or n
                for start in range(0, n, step):
                    idx = order[start : start + step]
                    self._gd_step(
                        w64, b64, x64[idx], batch.head[idx], batch.y[idx], weights[idx], lr, l2
                    )
            self._w = w64.astype(np.float32)
            self._b = b64.astype(np.float32)
        return {
            "rows": float(n),
            "skipped_rows": float(batch.skipped),
            "loss_before": loss_before,
            "loss_after": self._batch_loss(batch),
            "epochs": float(epochs),
        }

    def _row_weights(self, batch: RowBatch, class_balance: bool) -> np.ndarray:
        w = batch.w.copy()
        if class_balance:
            for head in np.unique(batch.head):
                for label in (0.0, 1.0):
                    mask = (batch.head == head) & (batch.y == label)
                    total = w[mask].sum()
                    if total > 0:
                        w[mask] *= 0.5 * w[batch.head == head].sum() / total
        return w

    def _gd_step(
        self,
        w64: np.ndarray,
        b64: np.ndarray,
        x: np.ndarray,
        head: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray,
        lr: float,
        l2: float,
    ) -> None:
        k = w64.shape[0]
        onehot = np.zeros((x.shape[0], k))
        onehot[np.arange(x.shape[0]), head] = 1.0
        per_head = onehot.T @ weights  # total weight of each head in this batch
        active = per_head > 0
        if not active.any():
            return
        z = np.einsum("nd,nd->n", x, w64[head]) + b64[head]
        g = (_sigmoid(z) - y) * weights / np.where(active, per_head, 1.0)[head]
        grad_w = (onehot * g[:, None]).T @ x + l2 * w64
        grad_b = onehot.T @ g
        w64[active] -= lr * grad_w[active]
        b64[active] -= lr * grad_b[active]

    def _batch_loss(self, batch: RowBatch) -> float:
        if batch.size == 0:
            return float("nan")
        p = self._probabilities(batch.x)[np.arange(batch.size), batch.head]
        return _log_loss(p, batch.y, batch.w)

    # --- evaluation ---------------------------------------------------------

    def evaluate(self, rows: Sequence[FeedbackRow]) -> dict[str, float]:
        """Log loss, 0.5-threshold accuracy and choice accuracy on ``rows``.

        ``choice_accuracy`` is the fraction of queries (grouped by non-empty
        ``query_id``) whose argmax-p model was correct, counted only over
        queries that have an outcome for every model in the schema;
        ``choice_queries`` says how many that was (0 -> the value is NaN).
        """
        batch = stack_rows(rows, self._schema)
        p_all = self._probabilities(batch.x) if batch.size else np.zeros((0, 0))
        p = p_all[np.arange(batch.size), batch.head] if batch.size else np.zeros(0)
        return evaluate_predictions(
            p=p,
            p_all=p_all,
            batch=batch,
            log_loss=_log_loss(p, batch.y, batch.w),
            n_models=len(self._schema.model_keys),
        )

    # --- serialisation --------------------------------------------------------

    def to_arrays(self) -> list[np.ndarray]:
        """[weights (k, d), bias (k,)] as float32 copies, for a Flower ArrayRecord."""
        return [self._w.copy(), self._b.copy()]

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray], schema: FeatureSchema) -> RouterModel:
        """Rebuild from ``to_arrays()`` output; IncompatibleWeights if shapes disagree."""
        if len(arrays) != 2:
            raise IncompatibleWeights(
                f"expected 2 router arrays (weights, bias), got {len(arrays)}"
            )
        return cls(schema, arrays[0], arrays[1])

    def save(self, path: str | PathLike[str]) -> None:
        """Write the weights with a schema header (atomically: temp file + rename)."""
        write_router_file(path, self._schema, self.to_arrays())

    @classmethod
    def load(cls, path: str | PathLike[str], expected: FeatureSchema | None = None) -> RouterModel:
        """Read a router file; IncompatibleWeights if its header differs from ``expected``."""
        schema, arrays = read_router_file(path)
        if expected is not None:
            expected.require_equal(schema, what=f"router file {path}")
        return cls.from_arrays(arrays, schema)
