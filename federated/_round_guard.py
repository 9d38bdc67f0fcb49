"""RoundGuard: the run policy wrapped around whichever Flower strategy was chosen.

Flower's strategies assume a cooperative SuperLink: they wait forever for
enough nodes, and one reply with an unexpected record aborts aggregation for
everybody. Over an open peer network the guard instead

* takes one peer snapshot per phase and fails fast with NotEnoughParticipants
  (instead of Flower's sleep-and-retry loop) when fewer than ``min_nodes`` can
  be asked or reply usably;
* drops replies that are errors or do not have exactly our layout (array
  names, shapes, finite values, metric keys), recording the peer and reason;
* tags each round's messages with ``group_id = str(round)`` and records per
  round who was asked, who took part, who failed, and the aggregated metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from ._errors import AggregationFailed, FederatedError, NotEnoughParticipants
from ._grid import P2PGrid
from ._npy import array_to_numpy
from ._records import ARRAYS_KEY, EVAL_METRIC_KEYS, METRICS_KEY, TRAIN_METRIC_KEYS, WEIGHT_KEY

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RoundState:
    """What the guard saw in one round (turned into a RoundReport by run_training)."""

    round: int
    started: float
    asked: list[str] = field(default_factory=list)
    participants: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    train_metrics: dict[str, float] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    finished: float | None = None


def _metric_problem(metrics: MetricRecord, keys: Sequence[str]) -> str | None:
    if set(metrics.keys()) != set(keys):
        return f"metric keys {sorted(metrics.keys())} != {sorted(keys)}"
    for key, value in metrics.items():
        if isinstance(value, list) or isinstance(value, bool) or not np.isfinite(value):
            return f"metric {key!r} is not a finite number"
        if value < 0 and (key.endswith(("-examples", "-queries")) or key == WEIGHT_KEY):
            return f"metric {key!r} is negative"
    return None


class RoundGuard(Strategy):
    """Wraps ``inner`` (any Message-API strategy) with the run policy described above."""

    def __init__(
        self,
        inner: Strategy,
        grid: P2PGrid,
        *,
        min_nodes: int,
        template: ArrayRecord,
    ) -> None:
        self.inner = inner
        self.grid = grid
        self.min_nodes = min_nodes
        self._shapes = {k: array_to_numpy(template[k]).shape for k in template.keys()}
        self.rounds: dict[int, RoundState] = {}

    def summary(self) -> None:
        log.info("RoundGuard(min_nodes=%d) around %s", self.min_nodes, type(self.inner).__name__)
        self.inner.summary()

    # --- helpers --------------------------------------------------------------

    def _state(self, server_round: int) -> RoundState:
        return self.rounds.setdefault(server_round, RoundState(server_round, time.monotonic()))

    def _peer(self, node_id: int) -> str:
        return self.grid.peer_id(node_id) or f"node:{node_id}"

    def _tag(self, server_round: int, messages: Iterable[Message]) -> list[Message]:
        tagged = list(messages)
        for msg in tagged:
            msg.metadata.group_id = str(server_round)
        return tagged

    def _transport_failures(self, server_round: int, message_type: str) -> dict[str, str]:
        return {
            o.peer: o.reason
            for o in self.grid.outcomes(group_id=str(server_round))
            if not o.ok and o.message_type == message_type
        }

    def _train_reply_problem(self, msg: Message) -> str | None:
        if msg.has_error():
            return f"error reply: {msg.error.reason}"
        content = msg.content
        if set(content.keys()) != {ARRAYS_KEY, METRICS_KEY}:
            return f"reply records {sorted(content.keys())} != ['{ARRAYS_KEY}', '{METRICS_KEY}']"
        arrays = content.array_records.get(ARRAYS_KEY)
        metrics = content.metric_records.get(METRICS_KEY)
        if arrays is None or metrics is None:
            return "reply records have the wrong types"
        if list(arrays.keys()) != list(self._shapes):
            return f"arrays {list(arrays.keys())} != {list(self._shapes)}"
        for key, shape in self._shapes.items():
            try:
                value = array_to_numpy(arrays[key])
            except Exception as exc:  # undecodable bytes from a peer
                return f"array {key!r} undecodable: {exc}"
            if value.shape != shape or value.dtype.kind != "f":
                return f"array {key!r} is {value.dtype}{value.shape}, expected float{shape}"
            if not np.all(np.isfinite(value)):
                return f"array {key!r} has non-finite values"
        problem = _metric_problem(metrics, TRAIN_METRIC_KEYS)
        if problem is None and float(cast(float, metrics[WEIGHT_KEY])) <= 0:
            problem = f"{WEIGHT_KEY} must be positive"
        return problem

    def _eval_reply_problem(self, msg: Message) -> str | None:
        if msg.has_error():
            return f"error reply: {msg.error.reason}"
        if set(msg.content.keys()) != {METRICS_KEY}:
            return f"reply records {sorted(msg.content.keys())} != ['{METRICS_KEY}']"
        metrics = msg.content.metric_records.get(METRICS_KEY)
        if metrics is None:
            return "reply metrics have the wrong type"
        return _metric_problem(metrics, EVAL_METRIC_KEYS)

    def _split(
        self, state: RoundState, replies: Iterable[Message], *, train: bool
    ) -> list[Message]:
        good = []
        for msg in replies:
            peer = self._peer(msg.metadata.src_node_id)
            problem = self._train_reply_problem(msg) if train else self._eval_reply_problem(msg)
            if problem is None:
                good.append(msg)
            elif train:
                state.failed[peer] = problem
            else:
                state.failed.setdefault(peer, f"evaluate: {problem}")
                log.info("round %d: reply from %s rejected: %s", state.round, peer, problem)
        return good

    # --- training -------------------------------------------------------------

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        state = self._state(server_round)
        available = len(self.grid.refresh())
        if available < self.min_nodes:
            raise NotEnoughParticipants(
                round=server_round,
                required=self.min_nodes,
                available=available,
                replied=0,
                detail="not enough reachable peers to start the round",
            )
        messages = self._tag(
            server_round, self.inner.configure_train(server_round, arrays, config, grid)
        )
        state.asked = [self._peer(m.metadata.dst_node_id) for m in messages]
        if len(messages) < self.min_nodes:
            raise NotEnoughParticipants(
                round=server_round,
                required=self.min_nodes,
                available=available,
                replied=0,
                detail=f"the strategy selected only {len(messages)} peers",
            )
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        state = self._state(server_round)
        state.failed.update(self._transport_failures(server_round, "train"))
        good = self._split(state, replies, train=True)
        state.participants = [self._peer(m.metadata.src_node_id) for m in good]
        if len(good) < self.min_nodes:
            raise NotEnoughParticipants(
                round=server_round,
                required=self.min_nodes,
                available=len(state.asked),
                replied=len(good),
                failed=state.failed,
            )
        try:
            arrays, metrics = self.inner.aggregate_train(server_round, good)
        except FederatedError:
            raise
        except Exception as exc:  # Flower's AggregationError, InconsistentMessageReplies, ...
            raise AggregationFailed(
                f"round {server_round}: {type(self.inner).__name__} could not aggregate "
                f"{len(good)} replies: {exc}"
            ) from exc
        if arrays is not None and not all(np.all(np.isfinite(array_to_numpy(arrays[k]))) for k in arrays):
            state.notes.append("aggregate had non-finite values; kept the previous weights")
            arrays = None
        if arrays is None:
            state.notes.append("no aggregate this round; the global router is unchanged")
        if metrics is not None:
            state.train_metrics = {k: float(cast(Any, v)) for k, v in metrics.items()}
        return arrays, metrics

    # --- evaluation -----------------------------------------------------------

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        state = self._state(server_round)
        available = len(self.grid.refresh())
        if available < self.min_nodes:
            state.notes.append(
                f"evaluation skipped: {available} reachable peers < {self.min_nodes}"
            )
            return []
        return self._tag(
            server_round, self.inner.configure_evaluate(server_round, arrays, config, grid)
        )

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        state = self._state(server_round)
        failures = self._transport_failures(server_round, "evaluate")
        for peer, reason in failures.items():
            state.failed.setdefault(peer, f"evaluate: {reason}")
        good = self._split(state, replies, train=False)
        try:
            metrics = self.inner.aggregate_evaluate(server_round, good) if good else None
        except Exception as exc:  # evaluation is informational: never abort the run for it
            state.notes.append(f"evaluation not aggregated: {exc}")
            metrics = None
        if metrics is not None:
            state.validation = {k: float(cast(Any, v)) for k, v in metrics.items()}
        state.finished = time.monotonic()
        return metrics
