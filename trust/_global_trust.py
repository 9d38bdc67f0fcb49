"""EigenTrust over the opinions peers gossip about each other.

t = (1 - alpha) * C^T t + alpha * p, iterated from t = p until the L1 change is
below ``tol``. Row i of C is issuer i's normalised opinion; an issuer with no
usable opinion (or a peer that never issued one) gets row p. Each row
contributes in proportion to its issuer's own global trust, so opinions from
peers nobody trusts weigh (almost) nothing.

The anchor distribution p is uniform over the pre-trusted peers plus this
node's own row whenever it has local opinions: the node's own measurements are
the one source it can verify. With no anchor at all p is uniform over every
known peer, which a colluding group can exploit (see README).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._errors import InvalidInput
from ._ids import check_peer_id

__all__ = ["SELF", "GlobalTrust", "TrustOpinion"]

SELF = "self"
"""Row key of this node's own opinions when no self_id is given (never a valid base58 ID: 'l')."""


@dataclass(frozen=True, slots=True)
class TrustOpinion:
    """One peer's normalised local trust in others at ``epoch`` (plain data, gossip-ready)."""

    issuer: str
    epoch: int
    opinions: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_peer_id(self.issuer, "opinion issuer")
        if isinstance(self.epoch, bool) or not isinstance(self.epoch, int) or self.epoch < 0:
            raise InvalidInput(f"opinion epoch must be a non-negative integer, got {self.epoch!r}")
        if not isinstance(self.opinions, Mapping):
            raise InvalidInput("opinions must map peer IDs to numbers")

    def to_dict(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "epoch": self.epoch, "opinions": dict(self.opinions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrustOpinion:
        if not isinstance(data, Mapping) or not {"issuer", "epoch", "opinions"} <= set(data):
            raise InvalidInput("a trust opinion needs issuer, epoch and opinions")
        return cls(issuer=data["issuer"], epoch=data["epoch"], opinions=data["opinions"])


class GlobalTrust:
    """Holds the latest opinion of each peer and computes global trust on demand."""

    def __init__(
        self,
        pre_trusted: Iterable[str] = (),
        alpha: float = 0.15,
        max_iters: int = 200,
        tol: float = 1e-10,
        *,
        self_id: str | None = None,
        max_entries: int = 1000,
    ) -> None:
        self.pre_trusted = frozenset(check_peer_id(p, "pre-trusted peer") for p in pre_trusted)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha <= 1:
            raise InvalidInput(
                f"alpha (weight on pre-trusted peers) must be in (0, 1], got {alpha!r}"
            )
        if max_entries < 1:
            raise InvalidInput(f"max_entries must be >= 1, got {max_entries}")
        if max_iters < 1 or not tol > 0:
            raise InvalidInput(f"need max_iters >= 1 and tol > 0, got {max_iters}, {tol}")
        self.alpha = float(alpha)
        self.max_iters = max_iters
        self.tol = tol
        self.self_key = check_peer_id(self_id, "self_id") if self_id is not None else SELF
        self.max_entries = max_entries
        self._opinions: dict[str, TrustOpinion] = {}
        self.iterations = 0
        """Power iterations used by the last compute() (for benchmarks and tests)."""

    # -- opinions -----------------------------------------------------------------------
    def update_opinion(self, from_peer: str, epoch: int, opinions: Mapping[str, float]) -> bool:
        """Store ``from_peer``'s opinion if ``epoch`` is newer than the one held; True if stored.

        Its opinion of itself is dropped and the rest normalised to sum 1 (all
        zero leaves an empty opinion, treated like none). Raises InvalidInput on
        a bad peer ID, a negative or non-finite value, or more than
        ``max_entries`` entries.
        """
        check_peer_id(from_peer, "opinion issuer")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise InvalidInput(f"opinion epoch must be a non-negative integer, got {epoch!r}")
        held = self._opinions.get(from_peer)
        if held is not None and held.epoch >= epoch:
            return False
        self._opinions[from_peer] = TrustOpinion(
            from_peer, epoch, self._normalise(from_peer, opinions)
        )
        return True

    def ingest(self, opinion: TrustOpinion) -> bool:
        """update_opinion() for a TrustOpinion object."""
        return self.update_opinion(opinion.issuer, opinion.epoch, opinion.opinions)

    def opinion_of(self, peer: str) -> TrustOpinion | None:
        """The normalised opinion held from ``peer`` (None if none)."""
        return self._opinions.get(peer)

    def forget(self, peer: str) -> None:
        """Drop a peer's opinion (e.g. when it is banned)."""
        self._opinions.pop(peer, None)

    def issuers(self) -> list[str]:
        return sorted(self._opinions)

    # -- computation --------------------------------------------------------------------
    def compute(self, local_view: Mapping[str, float]) -> dict[str, float]:
        """Global trust of every known peer (deterministic; values sum to 1 with this node's share).

        ``local_view`` is this node's own local trust (e.g.
        ReputationBook.local_opinions()); it becomes this node's row. This
        node's own share is reported under self_id, or omitted if none was given.
        """
        rows: dict[str, Mapping[str, float]] = {
            issuer: op.opinions for issuer, op in self._opinions.items() if op.opinions
        }
        own = self._normalise(self.self_key, local_view, capped=False)
        if own:
            rows[self.self_key] = own
        nodes = set(rows) | self.pre_trusted | {t for row in rows.values() for t in row}
        if not nodes:
            self.iterations = 0
            return {}
        order = sorted(nodes)
        index = {peer: i for i, peer in enumerate(order)}
        n = len(order)

        anchors = set(self.pre_trusted) | ({self.self_key} if own else set())
        p = np.zeros(n)
        if anchors:
            for peer in anchors:
                p[index[peer]] = 1.0 / len(anchors)
        else:
            p[:] = 1.0 / n

        src, dst, val = [], [], []
        for issuer in sorted(rows):
            for target, weight in sorted(rows[issuer].items()):
                src.append(index[issuer])
                dst.append(index[target])
                val.append(weight)
        src_a, dst_a, val_a = (
            np.array(src, dtype=np.int64),
            np.array(dst, dtype=np.int64),
            np.array(val),
        )
        dangling = np.ones(n, dtype=bool)
        dangling[src_a] = False  # repeated indices are fine; np.unique would import numpy.ma (~0.1 s) on first use

        t = p.copy()
        self.iterations = 0
        for _ in range(self.max_iters):
            self.iterations += 1
            flowed = np.bincount(dst_a, weights=val_a * t[src_a], minlength=n).astype(float)
            flowed += t[dangling].sum() * p
            new = (1 - self.alpha) * flowed + self.alpha * p
            delta = float(np.abs(new - t).sum())
            t = new
            if delta < self.tol:
                break
        result = {peer: float(t[i]) for i, peer in enumerate(order)}
        if self.self_key == SELF:
            result.pop(SELF, None)
        return result

    # -- internals ----------------------------------------------------------------------
    def _normalise(
        self, issuer: str, opinions: Mapping[str, float], capped: bool = True
    ) -> dict[str, float]:
        if not isinstance(opinions, Mapping):
            raise InvalidInput(
                f"opinions must map peer IDs to numbers, got {type(opinions).__name__}"
            )
        if capped and len(opinions) > self.max_entries:
            raise InvalidInput(
                f"opinion from {issuer!r} has {len(opinions)} entries, more than {self.max_entries}; "
                "send only the peers you have evidence about"
            )
        kept: dict[str, float] = {}
        for target, value in opinions.items():
            check_peer_id(target, "opinion target")
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise InvalidInput(f"opinion of {target!r} must be a finite number, got {value!r}")
            if value < 0:
                raise InvalidInput(f"opinion of {target!r} must be >= 0, got {value}")
            if target != issuer and value > 0:
                kept[target] = float(value)
        total = sum(kept.values())
        return {k: v / total for k, v in sorted(kept.items())} if total > 0 else {}
