"""The ClientApp every node runs: train/evaluate the received router on local feedback.

Feedback rows never leave the node: a train reply carries only the trained
weights and aggregate metrics (counts, losses, accuracies).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from flwr.app import ConfigRecord, Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import LocalDpMod, fixedclipping_mod
from flwr.clientapp.typing import Mod
from flwr.common.constant import ErrorCode

from ._errors import FederatedError, InvalidTrainingConfig
from ._records import (
    ARRAYS_KEY,
    CONFIG_KEY,
    METRICS_KEY,
    WEIGHT_KEY,
    finite_metrics,
    router_from_arrayrecord,
    router_to_arrayrecord,
    schema_from_config,
)
from ._router import RouterModel
from ._schema import FeedbackRow

log = logging.getLogger(__name__)

RowsProvider = Callable[[], tuple[Sequence[FeedbackRow], Sequence[FeedbackRow]]]
"""Returns this node's (train, validation) feedback rows; called once per message."""

MAX_LOCAL_EPOCHS = 200
MAX_LR = 10.0


@dataclass(frozen=True, slots=True)
class LocalTraining:
    """Local optimiser settings; the server may override epochs/lr/l2 within safe caps."""

    epochs: int = 10
    lr: float = 2.0
    l2: float = 1e-4
    class_balance: bool = False
    batch_size: int | None = None


@dataclass(frozen=True, slots=True)
class LocalDp:
    """Local differential privacy (Flower's LocalDpMod): clip this node's update to
    ``clipping_norm`` and add Gaussian noise before it leaves the node."""

    clipping_norm: float
    sensitivity: float
    epsilon: float
    delta: float


def _hyper(config: ConfigRecord, defaults: LocalTraining) -> tuple[int, float, float]:
    """Server-suggested hyper-parameters, clamped so a server cannot make us spin."""
    epochs = config.get("local-epochs", defaults.epochs)
    lr = config.get("lr", defaults.lr)
    l2 = config.get("l2", defaults.l2)
    if not isinstance(epochs, int) or isinstance(epochs, bool):
        epochs = defaults.epochs
    if not isinstance(lr, int | float) or not np.isfinite(lr) or lr <= 0:
        lr = defaults.lr
    if not isinstance(l2, int | float) or not np.isfinite(l2) or l2 < 0:
        l2 = defaults.l2
    return min(max(epochs, 0), MAX_LOCAL_EPOCHS), min(float(lr), MAX_LR), float(l2)


def _error_reply(msg: Message, reason: str) -> Message:
    return Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=msg)


def _received_model(msg: Message) -> tuple[RouterModel, ConfigRecord]:
    config = msg.content.config_records.get(CONFIG_KEY)
    arrays = msg.content.array_records.get(ARRAYS_KEY)
    if config is None or arrays is None:
        raise InvalidTrainingConfig(
            f"instruction must carry '{ARRAYS_KEY}' and '{CONFIG_KEY}' records, "
            f"got {list(msg.content.keys())}"
        )
    return router_from_arrayrecord(arrays, schema_from_config(config)), config


def make_client_app(
    rows_provider: RowsProvider,
    *,
    training: LocalTraining | None = None,
    local_dp: LocalDp | None = None,
    fixed_clipping: bool = False,
    train_mods: Sequence[Mod] = (),
) -> ClientApp:
    """Build the node's ClientApp.

    ``local_dp`` adds Flower's LocalDpMod to training; ``fixed_clipping`` adds
    ``fixedclipping_mod``, which clips the update to the ``clipping_norm`` the
    server sends (run_training(..., client_clipping_norm=...)). ``train_mods``
    are extra Flower mods around training, outermost first.
    """
    defaults = training or LocalTraining()
    mods: list[Mod] = list(train_mods)
    if local_dp is not None:
        try:
            mods.append(
                LocalDpMod(
                    local_dp.clipping_norm, local_dp.sensitivity, local_dp.epsilon, local_dp.delta
                )
            )
        except ValueError as exc:
            raise InvalidTrainingConfig(f"invalid local DP settings: {exc}") from exc
    if fixed_clipping:
        mods.append(fixedclipping_mod)

    app = ClientApp()

    @app.train(mods=mods)
    def train(msg: Message, context: Context) -> Message:
        try:
            model, config = _received_model(msg)
            train_rows, val_rows = rows_provider()
            epochs, lr, l2 = _hyper(config, defaults)
            server_round = config.get("server-round", 0)
            round_seed = server_round if isinstance(server_round, int) else 0
            seed = [context.node_id % 2**32, round_seed % 2**32]
            fit = model.fit(
                list(train_rows),
                epochs,
                lr,
                l2,
                np.random.default_rng(seed),
                class_balance=defaults.class_balance,
                batch_size=defaults.batch_size,
            )
            if fit["rows"] == 0:
                return _error_reply(
                    msg, f"no local feedback rows for the router's models {list(model.model_keys)}"
                )
            val = model.evaluate(list(val_rows))
        except FederatedError as exc:
            return _error_reply(msg, f"{type(exc).__name__}: {exc}")
        metrics = finite_metrics(
            {
                WEIGHT_KEY: fit["rows"],
                "train-loss": fit["loss_after"],
                "val-examples": val["rows"],
                "val-log-loss": val["log_loss"],
                "val-accuracy": val["accuracy"],
                "val-choice-accuracy": val["choice_accuracy"],
                "val-choice-queries": val["choice_queries"],
            }
        )
        content = RecordDict({ARRAYS_KEY: router_to_arrayrecord(model), METRICS_KEY: metrics})
        return Message(content, reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        try:
            model, _ = _received_model(msg)
            _, val_rows = rows_provider()
            val = model.evaluate(list(val_rows))
        except FederatedError as exc:
            return _error_reply(msg, f"{type(exc).__name__}: {exc}")
        metrics = finite_metrics(
            {
                WEIGHT_KEY: val["rows"],
                "log-loss": val["log_loss"],
                "accuracy": val["accuracy"],
                "choice-accuracy": val["choice_accuracy"],
                "choice-queries": val["choice_queries"],
            }
        )
        return Message(RecordDict({METRICS_KEY: metrics}), reply_to=msg)

    return app
