"""ReputationWeightedFedAvg: FedAvg that trusts each peer in proportion to its reputation.

Plain FedAvg lets one peer that sends ``-10*w + 5`` wreck the global router.
This strategy bounds any single reply's influence in three steps:

1. ``configure_train``/``configure_evaluate`` skip peers whose reputation is
   below ``floor`` (they are not even asked);
2. ``aggregate_train`` weights each reply by ``claimed examples x reputation``,
   with the claimed count capped at ``examples_cap x`` the median claim, so a
   peer cannot buy influence by lying about its data size;
3. a robust rule on the *updates* (reply - current global): each update's L2
   norm is clipped to ``clip_factor x`` the median update norm, and/or the
   weighted mean is replaced by a coordinate-wise trimmed mean (``trim_beta``).

Reputation is looked up by the *authenticated* peer ID behind a Flower
node_id (from the P2PGrid, which only accepts a reply from the peer it asked),
never by anything a peer reports about itself. What was excluded or clipped
is kept in ``records[round]`` for the round report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from ._errors import AggregationFailed, InvalidTrainingConfig
from ._npy import array_to_numpy

log = logging.getLogger(__name__)

Reputation = Callable[[str], float]


@dataclass(slots=True)
class AggregationRecord:
    """Per-round account of how each peer's reply was treated."""

    round: int
    weights: dict[str, float] = field(default_factory=dict)  # effective weight of included replies
    excluded: dict[str, str] = field(default_factory=dict)  # peer -> why it did not count
    clipped: dict[str, float] = field(default_factory=dict)  # peer -> scale applied (< 1)


def weighted_trimmed_mean(values: np.ndarray, weights: np.ndarray, beta: float) -> np.ndarray:
    """Coordinate-wise: drop the ``beta`` fraction lowest and highest, weighted-mean the rest."""
    n = values.shape[0]
    cut = min(int(beta * n), (n - 1) // 2)
    order = np.argsort(values, axis=0, kind="stable")
    kept = np.take_along_axis(values, order, axis=0)[cut : n - cut]
    kept_w = weights[order][cut : n - cut]
    total = kept_w.sum(axis=0)
    mean_w = np.divide(
        (kept * kept_w).sum(axis=0), total, where=total > 0, out=np.zeros_like(total)
    )
    return np.where(total > 0, mean_w, kept.mean(axis=0))


class ReputationWeightedFedAvg(FedAvg):
    """FedAvg weighted by ``reputation(peer_id)`` (in [0, 1]) with a robust update rule.

    Parameters (besides FedAvg's): ``reputation`` maps an authenticated peer ID
    to [0, 1] (errors and NaN count as 0); ``floor`` excludes peers below it;
    ``clip_factor`` (None = off) clips update norms to that multiple of the
    median norm; ``trim_beta`` (None = off) uses a weighted coordinate-wise
    trimmed mean; ``examples_cap`` (None = off) caps claimed example counts at
    that multiple of the median claim; ``peer_of`` overrides node_id -> peer
    ID resolution (default: the grid's ``peer_id``).
    """

    def __init__(
        self,
        reputation: Reputation,
        *,
        floor: float = 0.1,
        clip_factor: float | None = 2.0,
        trim_beta: float | None = None,
        examples_cap: float | None = 4.0,
        peer_of: Callable[[int], str | None] | None = None,
        **fedavg_kwargs: Any,
    ) -> None:
        if not callable(reputation):
            raise InvalidTrainingConfig("reputation must be a callable peer_id -> float")
        if not 0.0 <= floor <= 1.0:
            raise InvalidTrainingConfig(f"floor must be in [0, 1], got {floor}")
        if clip_factor is not None and clip_factor <= 0:
            raise InvalidTrainingConfig(f"clip_factor must be > 0 or None, got {clip_factor}")
        if trim_beta is not None and not 0.0 <= trim_beta < 0.5:
            raise InvalidTrainingConfig(f"trim_beta must be in [0, 0.5) or None, got {trim_beta}")
        if examples_cap is not None and examples_cap < 1:
            raise InvalidTrainingConfig(f"examples_cap must be >= 1 or None, got {examples_cap}")
        super().__init__(**fedavg_kwargs)
        self.reputation = reputation
        self.floor = floor
        self.clip_factor = clip_factor
        self.trim_beta = trim_beta
        self.examples_cap = examples_cap
        self._peer_of = peer_of
        self._grid: Grid | None = None
        self._global: tuple[list[str], list[np.ndarray]] | None = None
        self.records: dict[int, AggregationRecord] = {}

    def summary(self) -> None:
        log.info(
            "ReputationWeightedFedAvg: floor=%s clip_factor=%s trim_beta=%s examples_cap=%s",
            self.floor,
            self.clip_factor,
            self.trim_beta,
            self.examples_cap,
        )
        super().summary()

    # --- identity and trust ---------------------------------------------------

    def peer(self, node_id: int) -> str:
        """Authenticated peer ID for a node_id (``node:<id>`` if unknown)."""
        peer: str | None = None
        if self._peer_of is not None:
            peer = self._peer_of(node_id)
        elif self._grid is not None and hasattr(self._grid, "peer_id"):
            peer = self._grid.peer_id(node_id)
        return peer if peer is not None else f"node:{node_id}"

    def trust(self, peer: str) -> float:
        """reputation(peer) clamped to [0, 1]; a failing or NaN lookup counts as 0."""
        try:
            value = float(self.reputation(peer))
        except Exception as exc:  # the reputation source failing must not stop training
            log.warning("reputation(%s) failed: %s; treating as 0", peer, exc)
            return 0.0
        return min(max(value, 0.0), 1.0) if np.isfinite(value) else 0.0

    def _record(self, server_round: int) -> AggregationRecord:
        return self.records.setdefault(server_round, AggregationRecord(server_round))

    def _trusted(self, server_round: int, messages: Iterable[Message]) -> list[Message]:
        record = self._record(server_round)
        kept = []
        for msg in messages:
            peer = self.peer(msg.metadata.dst_node_id)
            rep = self.trust(peer)
            if rep < self.floor:
                record.excluded[peer] = f"reputation {rep:.2f} below floor {self.floor:.2f}"
            else:
                kept.append(msg)
        return kept

    # --- rounds -----------------------------------------------------------------

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._grid = grid
        keys = list(arrays.keys())
        self._global = (keys, [array_to_numpy(arrays[k]) for k in keys])
        return self._trusted(
            server_round, super().configure_train(server_round, arrays, config, grid)
        )

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._grid = grid
        messages = super().configure_evaluate(server_round, arrays, config, grid)
        kept = []
        for msg in messages:
            if self.trust(self.peer(msg.metadata.dst_node_id)) >= self.floor:
                kept.append(msg)
        return kept

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        valid, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid:
            return None, None
        if self._global is None:
            raise AggregationFailed("aggregate_train was called before configure_train")
        keys, global_arrays = self._global
        record = self._record(server_round)

        peers: list[str] = []
        flats: list[np.ndarray] = []
        claims: list[float] = []
        reps: list[float] = []
        contents = []
        for msg in valid:
            peer = self.peer(msg.metadata.src_node_id)
            rep = self.trust(peer)  # re-read: reputation may have dropped during the round
            if rep < self.floor:
                record.excluded[peer] = f"reputation {rep:.2f} below floor {self.floor:.2f}"
                continue
            reply_arrays = cast(ArrayRecord, msg.content[self.arrayrecord_key])
            metrics = next(iter(msg.content.metric_records.values()))
            peers.append(peer)
            flats.append(np.concatenate([array_to_numpy(reply_arrays[k]).ravel() for k in keys]))
            claims.append(float(cast(float, metrics[self.weighted_by_key])))
            reps.append(rep)
            contents.append(msg.content)
        if not peers:
            return None, None

        start = np.concatenate([a.ravel() for a in global_arrays]).astype(np.float64)
        updates = np.stack(flats).astype(np.float64) - start
        examples = np.asarray(claims, dtype=np.float64)
        if self.examples_cap is not None and len(examples) > 1:
            examples = np.minimum(examples, self.examples_cap * float(np.median(examples)))
        weights = examples * np.asarray(reps)
        if not np.isfinite(weights).all() or weights.sum() <= 0:
            for peer in peers:
                record.excluded.setdefault(peer, "zero effective weight")
            return None, None

        if self.clip_factor is not None:
            norms = np.linalg.norm(updates, axis=1)
            limit = self.clip_factor * float(np.median(norms))
            for i, norm in enumerate(norms):
                if norm > limit:
                    scale = limit / norm
                    updates[i] *= scale
                    record.clipped[peers[i]] = float(scale)

        if self.trim_beta:
            step = weighted_trimmed_mean(updates, weights, self.trim_beta)
        else:
            step = weights @ updates / weights.sum()
        record.weights.update(zip(peers, weights.tolist(), strict=True))

        new_flat = start + step
        out = ArrayRecord()
        offset = 0
        for key, ref in zip(keys, global_arrays, strict=True):
            size = ref.size
            out[key] = Array(new_flat[offset : offset + size].reshape(ref.shape).astype(ref.dtype))
            offset += size
        metrics_out = self.train_metrics_aggr_fn(contents, self.weighted_by_key)
        return out, metrics_out
