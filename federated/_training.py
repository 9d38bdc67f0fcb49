"""run_training: one federated training run over the node's transport, start to report.

Synchronous on purpose (Flower's Grid API is): the node calls it in
``trio.to_thread.run_sync``; each exchange inside is bounded by the round
timeout, so the call always returns or raises a FederatedError.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, Context, RecordDict

from ._errors import InvalidTrainingConfig, NotEnoughParticipants
from ._flower_compat import SERVER_NODE_ID
from ._grid import P2PGrid
from ._records import router_from_arrayrecord
from ._reputation_strategy import Reputation, ReputationWeightedFedAvg
from ._round_guard import RoundGuard
from ._router import RouterModel
from ._schema import FeatureSchema
from ._server_app import TrainingPlan, make_server_app
from ._strategies import StrategyOptions
from ._transport import GridTransport

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoundReport:
    """Who took part in a round, who did not and why, and what the round achieved.

    ``failed``: peers that were asked but gave no usable reply (timeouts,
    transport errors, error replies, malformed replies). ``excluded``: peers
    the reputation strategy did not ask or did not count. ``clipped``: peers
    whose update the reputation strategy scaled down (scale < 1).
    """

    round: int
    asked: tuple[str, ...]
    participants: tuple[str, ...]
    failed: dict[str, str]
    excluded: dict[str, str]
    clipped: dict[str, float]
    train_metrics: dict[str, float]
    validation: dict[str, float]
    notes: tuple[str, ...]
    duration_s: float


@dataclass(frozen=True, slots=True)
class RoundEvent:
    """Progress notification sent after each completed round."""

    round: int
    rounds: int
    report: RoundReport
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class TrainingReport:
    """Outcome of run_training: per-round reports and the final global router."""

    strategy: str
    schema: FeatureSchema
    rounds: list[RoundReport]
    final_arrays: list[np.ndarray]
    duration_s: float
    run_id: int = 0

    def model(self) -> RouterModel:
        """The final global router (validate it with adopt_if_better before use)."""
        return RouterModel.from_arrays(self.final_arrays, self.schema)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the weights) for the node's API and logs."""
        return {
            "strategy": self.strategy,
            "run_id": self.run_id,
            "duration_s": self.duration_s,
            "schema": {
                "version": self.schema.version,
                "embed_dim": self.schema.embed_dim,
                "model_keys": list(self.schema.model_keys),
            },
            "rounds": [asdict(r) for r in self.rounds],
        }


def _round_report(server_round: int, guard: RoundGuard) -> RoundReport:
    state = guard.rounds[server_round]
    excluded: dict[str, str] = {}
    clipped: dict[str, float] = {}
    if isinstance(guard.inner, ReputationWeightedFedAvg):
        record = guard.inner.records.get(server_round)
        if record is not None:
            excluded, clipped = dict(record.excluded), dict(record.clipped)
    end = state.finished if state.finished is not None else time.monotonic()
    return RoundReport(
        round=server_round,
        asked=tuple(state.asked),
        participants=tuple(state.participants),
        failed=dict(state.failed),
        excluded=excluded,
        clipped=clipped,
        train_metrics=dict(state.train_metrics),
        validation=dict(state.validation),
        notes=tuple(state.notes),
        duration_s=end - state.started,
    )


def run_training(
    transport: GridTransport,
    *,
    rounds: int,
    min_nodes: int,
    strategy: str = "fedavg",
    round_timeout_s: float = 30.0,
    initial: RouterModel,
    reputation: Reputation | None = None,
    progress: Callable[[RoundEvent], None] | None = None,
    options: StrategyOptions | None = None,
    local_epochs: int = 10,
    lr: float = 2.0,
    l2: float = 1e-4,
    client_clipping_norm: float | None = None,
    run_id: int | None = None,
) -> TrainingReport:
    """Train ``initial`` federatively with the peers ``transport`` reaches.

    Raises NotEnoughParticipants (with ``partial`` = the report of the rounds
    that completed) when a round cannot gather ``min_nodes`` usable replies;
    a peer that fails or times out is dropped from that round. Each phase
    (train, evaluate) of a round waits at most ``round_timeout_s``.
    """
    if not isinstance(initial, RouterModel):
        raise InvalidTrainingConfig(f"initial must be a RouterModel, got {type(initial).__name__}")
    if not isinstance(transport, GridTransport):
        raise InvalidTrainingConfig(
            "transport must provide peers() and exchange(peer, payload, timeout_s)"
        )
    plan = TrainingPlan(
        rounds=rounds,
        min_nodes=min_nodes,
        strategy=strategy,
        round_timeout_s=round_timeout_s,
        local_epochs=local_epochs,
        lr=lr,
        l2=l2,
        client_clipping_norm=client_clipping_norm,
    )
    if strategy == "reputation" and reputation is None:
        raise InvalidTrainingConfig("strategy 'reputation' needs reputation=callable(peer_id)")

    started = time.monotonic()
    reports: list[RoundReport] = []
    latest = [initial]  # global router after the last completed round

    def on_round(server_round: int, guard: RoundGuard, arrays: ArrayRecord) -> None:
        if len(arrays) > 0:
            latest[0] = router_from_arrayrecord(arrays, initial.schema)
        round_report = _round_report(server_round, guard)
        reports.append(round_report)
        if progress is not None:
            try:
                event = RoundEvent(server_round, rounds, round_report, time.monotonic() - started)
                progress(event)
            except Exception:  # a broken progress sink must not abort training
                log.exception("progress callback failed for round %d", server_round)

    grid = P2PGrid(transport, run_id=run_id, default_timeout_s=round_timeout_s)
    app = make_server_app(initial, reputation=reputation, options=options, on_round=on_round)
    context = Context(
        run_id=grid.run.run_id,
        node_id=SERVER_NODE_ID,
        node_config={},
        state=RecordDict(),
        run_config=plan.to_run_config(),
    )

    def report() -> TrainingReport:
        return TrainingReport(
            strategy=strategy,
            schema=initial.schema,
            rounds=list(reports),
            final_arrays=latest[0].to_arrays(),
            duration_s=time.monotonic() - started,
            run_id=grid.run.run_id,
        )

    try:
        app(grid, context)
    except NotEnoughParticipants as exc:
        exc.partial = report()
        raise
    return report()
