"""Strategies by name: what an operator can pick for a training run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flwr.serverapp.strategy import FedAvg, FedMedian, FedTrimmedAvg, MultiKrum, Strategy

from ._errors import InvalidTrainingConfig
from ._records import ARRAYS_KEY, CONFIG_KEY, WEIGHT_KEY, aggregate_router_metrics
from ._reputation_strategy import Reputation, ReputationWeightedFedAvg
from ._strategy_names import STRATEGY_NAMES


@dataclass(frozen=True, slots=True)
class StrategyOptions:
    """Tuning knobs of the named strategies (defaults suit 3-20 peers).

    ``krum_malicious`` defaults to the largest f with n >= 2f + 3 for
    n = min_nodes, ``krum_select`` to n - f.
    """

    trim_beta: float = 0.2
    krum_malicious: int | None = None
    krum_select: int | None = None
    reputation_floor: float = 0.1
    clip_factor: float | None = 2.0
    reputation_trim_beta: float | None = None
    examples_cap: float | None = 4.0


def build_strategy(
    name: str,
    *,
    min_nodes: int,
    reputation: Reputation | None = None,
    options: StrategyOptions | None = None,
) -> Strategy:
    """The Flower strategy called ``name`` (see STRATEGY_NAMES), sampling every peer."""
    opts = options or StrategyOptions()
    common: dict[str, Any] = {
        "fraction_train": 1.0,
        "fraction_evaluate": 1.0,
        "min_train_nodes": min_nodes,
        "min_evaluate_nodes": min_nodes,
        "min_available_nodes": min_nodes,
        "weighted_by_key": WEIGHT_KEY,
        "arrayrecord_key": ARRAYS_KEY,
        "configrecord_key": CONFIG_KEY,
        "train_metrics_aggr_fn": aggregate_router_metrics,
        "evaluate_metrics_aggr_fn": aggregate_router_metrics,
    }
    try:
        if name == "fedavg":
            return FedAvg(**common)
        if name == "trimmed":
            return FedTrimmedAvg(**common, beta=opts.trim_beta)
        if name == "median":
            return FedMedian(**common)
        if name == "multikrum":
            f = (
                opts.krum_malicious
                if opts.krum_malicious is not None
                else max(0, (min_nodes - 3) // 2)
            )
            select = opts.krum_select if opts.krum_select is not None else max(1, min_nodes - f)
            return MultiKrum(**common, num_malicious_nodes=f, num_nodes_to_select=select)
        if name == "reputation":
            if reputation is None:
                raise InvalidTrainingConfig(
                    "strategy 'reputation' needs a reputation callable (peer_id -> [0, 1])"
                )
            return ReputationWeightedFedAvg(
                reputation,
                floor=opts.reputation_floor,
                clip_factor=opts.clip_factor,
                trim_beta=opts.reputation_trim_beta,
                examples_cap=opts.examples_cap,
                **common,
            )
    except ValueError as exc:  # Flower's own argument checks (e.g. beta out of range)
        raise InvalidTrainingConfig(f"strategy {name!r}: {exc}") from exc
    raise InvalidTrainingConfig(
        f"unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}"
    )
