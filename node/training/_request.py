"""A training run request, as the API receives it and the coordinator runs it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from peermind.federated import STRATEGY_NAMES

from .errors import InvalidRunRequest

ENGINES = ("p2p", "flower")
"""p2p: Flower as a library over libp2p streams (default); flower: SuperLink/SuperNode processes."""


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Everything the coordinator needs to know to run federated training once."""

    rounds: int = 3
    min_nodes: int = 2
    strategy: str = "fedavg"
    engine: str = "p2p"
    round_timeout_s: float = 30.0
    invite_timeout_s: float = 10.0
    local_epochs: int = 10
    lr: float = 2.0
    clip_norm: float | None = None
    adopt: bool = True
    flower_tls: bool | None = None
    """Engine flower: TLS + SuperNode authentication (None: only when a participant is off loopback)."""

    def __post_init__(self) -> None:
        def bad(what: str) -> InvalidRunRequest:
            return InvalidRunRequest(what)

        if not isinstance(self.rounds, int) or isinstance(self.rounds, bool) or not 1 <= self.rounds <= 1000:
            raise bad(f"rounds must be an integer in 1..1000, got {self.rounds!r}")
        if not isinstance(self.min_nodes, int) or isinstance(self.min_nodes, bool) or not 1 <= self.min_nodes <= 1000:
            raise bad(f"min_nodes must be an integer in 1..1000, got {self.min_nodes!r}")
        if self.strategy not in STRATEGY_NAMES:
            raise bad(f"strategy must be one of {', '.join(STRATEGY_NAMES)}, got {self.strategy!r}")
        if self.engine not in ENGINES:
            raise bad(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        for name, low, high in (("round_timeout_s", 0.5, 3600.0), ("invite_timeout_s", 0.5, 600.0)):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
                raise bad(f"{name} must be a number in [{low}, {high}], got {value!r}")
        if not isinstance(self.local_epochs, int) or isinstance(self.local_epochs, bool) or not 0 <= self.local_epochs <= 200:
            raise bad(f"local_epochs must be an integer in 0..200, got {self.local_epochs!r}")
        if not isinstance(self.lr, int | float) or not (0 < self.lr <= 10) or math.isnan(self.lr):
            raise bad(f"lr must be a number in (0, 10], got {self.lr!r}")
        if self.clip_norm is not None and (
            not isinstance(self.clip_norm, int | float) or not 0 < self.clip_norm < math.inf
        ):
            raise bad(f"clip_norm must be a positive number or null, got {self.clip_norm!r}")

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> RunRequest:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(body) - known)
        if unknown:
            raise InvalidRunRequest(f"unknown field(s) {unknown}; known: {sorted(known)}")
        values = dict(body)
        for key in ("round_timeout_s", "invite_timeout_s", "lr"):
            if isinstance(values.get(key), int) and not isinstance(values.get(key), bool):
                values[key] = float(values[key])
        for flag in ("adopt", "flower_tls"):
            value = values.get(flag)
            if value is not None and not isinstance(value, bool):
                raise InvalidRunRequest(f"{flag} must be true or false")
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
