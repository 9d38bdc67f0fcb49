"""What one question put to one model or one network mode came to, and the peers asked.

Kept free of I/O so the strategy arithmetic (``_strategies``) can be tested on small
hand-made records, and so the per-item file can be read back for re-analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Peer:
    """A peer as the evaluation sees it: from its signed ad (or the entry node's status)."""

    peer_id: str
    model: str
    params_m: float
    cost_per_1k: float
    is_entry: bool = False


@dataclass(frozen=True)
class Outcome:
    """One answer: right or not, what it cost (ad price x tokens), how long the caller waited."""

    correct: bool
    cost: float
    latency_ms: float
    answered_by: str = ""
    model: str = ""
    error: str = ""
    escalated: bool = False
    asked: int = 1  # how many peers the answer involved
    retries: int = 0  # calls refused as rate-limited or busy before this one (waited out)
    task_id: str = ""  # the node's task ID (to mark the answer with feedback); not written to the per-item file

    def to_json(self) -> dict[str, Any]:
        """Compact: defaults left out, latency to 0.1 ms (the per-item file stays small)."""
        out: dict[str, Any] = {"correct": self.correct, "cost": round(self.cost, 8), "latency_ms": round(self.latency_ms, 1)}
        for key, default in _OPTIONAL.items():
            value = getattr(self, key)
            if value != default:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})


_OPTIONAL = {"answered_by": "", "model": "", "error": "", "escalated": False, "asked": 1, "retries": 0}
_FIELDS = {"correct", "cost", "latency_ms", *_OPTIONAL}


@dataclass
class ItemRecord:
    """Every outcome for one benchmark item: per model (single baselines) and per network mode."""

    item_id: str
    dataset: str
    kind: str
    n_choices: int  # 0 for numeric items
    per_model: dict[str, Outcome] = field(default_factory=dict)
    per_mode: dict[str, Outcome] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "dataset": self.dataset,
            "kind": self.kind,
            "n_choices": self.n_choices,
            "per_model": {k: v.to_json() for k, v in self.per_model.items()},
            "per_mode": {k: v.to_json() for k, v in self.per_mode.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemRecord:
        return cls(
            str(data["item_id"]), str(data["dataset"]), str(data["kind"]), int(data["n_choices"]),
            {k: Outcome.from_json(v) for k, v in data["per_model"].items()},
            {k: Outcome.from_json(v) for k, v in data["per_mode"].items()},
        )
