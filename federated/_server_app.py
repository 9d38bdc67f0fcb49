"""The ServerApp: runs the strategy named in the run config over the grid it is given.

Plan values travel in ``context.run_config`` (as in a Flower app's
pyproject ``[tool.flwr.app.config]``), so the same app can later run under
Flower's deployment engine; Python objects (the initial router, the
reputation callable, result callbacks) are bound at construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flwr.app import ArrayRecord, ConfigRecord, Context
from flwr.serverapp import Grid, ServerApp

from ._errors import InvalidTrainingConfig
from ._grid import P2PGrid
from ._records import router_to_arrayrecord, schema_to_config
from ._reputation_strategy import Reputation
from ._round_guard import RoundGuard
from ._router import RouterModel
from ._strategies import STRATEGY_NAMES, StrategyOptions, build_strategy


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """One training run's settings, convertible to/from a Flower run_config."""

    rounds: int
    min_nodes: int
    strategy: str = "fedavg"
    round_timeout_s: float = 30.0
    local_epochs: int = 10
    lr: float = 2.0
    l2: float = 1e-4
    client_clipping_norm: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise InvalidTrainingConfig(f"rounds must be an int >= 1, got {self.rounds!r}")
        if not isinstance(self.min_nodes, int) or self.min_nodes < 1:
            raise InvalidTrainingConfig(f"min_nodes must be an int >= 1, got {self.min_nodes!r}")
        if self.strategy not in STRATEGY_NAMES:
            raise InvalidTrainingConfig(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGY_NAMES)}"
            )
        if not (
            isinstance(self.round_timeout_s, int | float) and 0 < self.round_timeout_s < math.inf
        ):
            raise InvalidTrainingConfig(
                f"round_timeout_s must be a positive finite number, got {self.round_timeout_s!r}"
            )
        if self.client_clipping_norm is not None and not self.client_clipping_norm > 0:
            raise InvalidTrainingConfig("client_clipping_norm must be positive or None")

    def to_run_config(self) -> dict[str, bool | int | float | str]:
        config: dict[str, bool | int | float | str] = {
            "num-server-rounds": self.rounds,
            "min-nodes": self.min_nodes,
            "strategy": self.strategy,
            "round-timeout-s": float(self.round_timeout_s),
            "local-epochs": self.local_epochs,
            "lr": self.lr,
            "l2": self.l2,
        }
        if self.client_clipping_norm is not None:
            config["client-clipping-norm"] = self.client_clipping_norm
        return config

    @classmethod
    def from_run_config(cls, config: Mapping[str, object]) -> TrainingPlan:
        defaults = cls(rounds=1, min_nodes=1)
        try:
            norm = config.get("client-clipping-norm")
            return cls(
                rounds=int(config["num-server-rounds"]),  # type: ignore[call-overload]
                min_nodes=int(config["min-nodes"]),  # type: ignore[call-overload]
                strategy=str(config.get("strategy", "fedavg")),
                round_timeout_s=float(config.get("round-timeout-s", 30.0)),  # type: ignore[arg-type]
                local_epochs=int(config.get("local-epochs", defaults.local_epochs)),  # type: ignore[call-overload]
                lr=float(config.get("lr", defaults.lr)),  # type: ignore[arg-type]
                l2=float(config.get("l2", defaults.l2)),  # type: ignore[arg-type]
                client_clipping_norm=None if norm is None else float(norm),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidTrainingConfig(f"run_config is missing or has a bad value: {exc}") from exc


RoundCallback = Callable[[int, RoundGuard, ArrayRecord], None]


def make_server_app(
    initial: RouterModel,
    *,
    reputation: Reputation | None = None,
    options: StrategyOptions | None = None,
    on_round: RoundCallback | None = None,
) -> ServerApp:
    """A ServerApp training ``initial`` with the strategy named in ``context.run_config``.

    ``on_round(round, guard, global_arrays)`` fires after each round's evaluation.
    """
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        if not isinstance(grid, P2PGrid):
            raise InvalidTrainingConfig(
                f"this ServerApp runs over a P2PGrid, got {type(grid).__name__}"
            )
        plan = TrainingPlan.from_run_config(context.run_config)
        template = router_to_arrayrecord(initial)
        strategy = build_strategy(
            plan.strategy, min_nodes=plan.min_nodes, reputation=reputation, options=options
        )
        guard = RoundGuard(strategy, grid, min_nodes=plan.min_nodes, template=template)
        schema = schema_to_config(initial.schema)
        train_config = ConfigRecord(
            {**schema, "local-epochs": plan.local_epochs, "lr": plan.lr, "l2": plan.l2}
        )
        if plan.client_clipping_norm is not None:
            train_config["clipping_norm"] = plan.client_clipping_norm  # read by fixedclipping_mod

        def round_finished(server_round: int, arrays: ArrayRecord) -> None:
            if server_round > 0 and on_round is not None:
                on_round(server_round, guard, arrays)
            return None

        guard.start(
            grid,
            template,
            num_rounds=plan.rounds,
            timeout=plan.round_timeout_s,  # Strategy.start would default to 3600 s
            train_config=train_config,
            evaluate_config=ConfigRecord(dict(schema)),
            evaluate_fn=round_finished,
        )

    return app
