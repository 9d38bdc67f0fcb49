"""How router weights, schema and metrics travel inside Flower records.

Message layout (both directions use the keys Flower's strategies default to):
  instruction: {"arrays": ArrayRecord(weights, bias), "config": ConfigRecord(schema + hyper-parameters)}
  train reply: {"arrays": ArrayRecord(weights, bias), "metrics": MetricRecord(TRAIN_METRIC_KEYS)}
  eval reply:  {"metrics": MetricRecord(EVAL_METRIC_KEYS)}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from ._errors import IncompatibleWeights
from ._npy import array_to_numpy
from ._router import RouterModel
from ._schema import FeatureSchema

ARRAYS_KEY = "arrays"
CONFIG_KEY = "config"
METRICS_KEY = "metrics"
WEIGHT_KEY = "num-examples"
ARRAY_NAMES = ("weights", "bias")

TRAIN_METRIC_KEYS = (
    WEIGHT_KEY,
    "train-loss",
    "val-examples",
    "val-log-loss",
    "val-accuracy",
    "val-choice-accuracy",
    "val-choice-queries",
)
EVAL_METRIC_KEYS = (WEIGHT_KEY, "log-loss", "accuracy", "choice-accuracy", "choice-queries")


def router_to_arrayrecord(model: RouterModel) -> ArrayRecord:
    return ArrayRecord(
        {name: Array(a) for name, a in zip(ARRAY_NAMES, model.to_arrays(), strict=True)}
    )


def router_from_arrayrecord(record: ArrayRecord, schema: FeatureSchema) -> RouterModel:
    """Rebuild a router; IncompatibleWeights when names, shapes or values do not fit."""
    if list(record.keys()) != list(ARRAY_NAMES):
        raise IncompatibleWeights(
            f"router ArrayRecord has arrays {list(record.keys())}, expected {list(ARRAY_NAMES)}"
        )
    try:
        arrays = [array_to_numpy(record[name]) for name in ARRAY_NAMES]
    except Exception as exc:  # a peer's bytes: any decoding failure means "not our weights"
        raise IncompatibleWeights(f"router arrays cannot be decoded: {exc}") from exc
    return RouterModel.from_arrays(arrays, schema)


def schema_to_config(schema: FeatureSchema) -> dict[str, int | list[str]]:
    return {
        "schema-version": schema.version,
        "embed-dim": schema.embed_dim,
        "model-keys": list(schema.model_keys),
    }


def schema_from_config(config: ConfigRecord | Mapping[str, object]) -> FeatureSchema:
    """The schema an instruction's weights were built for."""
    try:
        version = config["schema-version"]
        embed_dim = config["embed-dim"]
        keys = config["model-keys"]
    except KeyError as exc:
        raise IncompatibleWeights(f"instruction config lacks the router schema key {exc}") from exc
    if not isinstance(version, int) or not isinstance(embed_dim, int):
        raise IncompatibleWeights("schema-version and embed-dim must be integers")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise IncompatibleWeights("model-keys must be a list of strings")
    return FeatureSchema(version=version, embed_dim=embed_dim, model_keys=tuple(keys))


def finite_metrics(values: Mapping[str, float]) -> MetricRecord:
    """A MetricRecord with NaN (undefined, e.g. no validation rows) replaced by 0.0.

    Each value's weight (val-examples, choice-queries) is 0 in exactly those
    cases, so the aggregation below ignores the placeholder.
    """
    return MetricRecord({k: (float(v) if np.isfinite(v) else 0.0) for k, v in values.items()})


def _weight_key_for(key: str, weighting_key: str, keys: set[str]) -> str | None:
    """Which count a metric is averaged by; None for counts, which are summed."""
    if key == weighting_key or key.endswith(("-examples", "-queries")):
        return None
    if key.endswith("choice-accuracy"):
        sibling = key[: -len("accuracy")] + "queries"
        return sibling if sibling in keys else weighting_key
    if key.startswith("val-") and "val-examples" in keys:
        return "val-examples"
    return weighting_key


def aggregate_router_metrics(records: list[RecordDict], weighting_key: str) -> MetricRecord:
    """Aggregate reply metrics: counts summed, each rate averaged by its own count.

    Flower's default weights every metric by ``num-examples``; ours weights
    validation metrics by validation rows and choice accuracy by the number
    of fully-observed queries, and never divides by a zero total.
    """
    metrics = [next(iter(r.metric_records.values())) for r in records if r.metric_records]
    out = MetricRecord()
    if not metrics:
        return out
    keys = set(metrics[0].keys())
    for key in metrics[0].keys():
        by = _weight_key_for(key, weighting_key, keys)
        values = [float(cast(float, m[key])) for m in metrics]
        if by is None:
            out[key] = float(sum(values))
            continue
        weights = [float(cast(float, m.get(by, 0.0))) for m in metrics]
        total = sum(weights)
        if total > 0:
            out[key] = sum(v * w for v, w in zip(values, weights, strict=True)) / total
    return out
