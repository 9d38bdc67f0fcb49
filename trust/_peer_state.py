"""Per-peer decayed evidence masses: the persistent record behind a reputation.

Masses are stored as of ``as_of`` and decayed lazily: a mass m recorded at t is
worth m * 2 ** (-(now - t) / half_life) at ``now``. Positive and negative
evidence are kept apart per kind so an override of unusual sign never cancels
the other side.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import InvalidInput
from ._evidence import Evidence, EvidenceRecord
from ._ids import check_peer_id

__all__ = ["PeerState", "decay_factor"]


def decay_factor(elapsed_s: float, half_life_s: float) -> float:
    """2 ** (-elapsed/half_life); 1 for non-positive elapsed time (clock skew never grows mass)."""
    if elapsed_s <= 0:
        return 1.0
    return 0.5 ** (elapsed_s / half_life_s)


@dataclass
class PeerState:
    """Everything the book knows about one peer; serialises to one flat row."""

    peer: str
    as_of: float
    first_seen: float
    last_seen: float
    interactions: int = 0
    banned_until: float = 0.0
    ban_count: int = 0
    positive: dict[Evidence, float] = field(default_factory=dict)
    negative: dict[Evidence, float] = field(default_factory=dict)
    counts: dict[Evidence, int] = field(default_factory=dict)
    llr: float = 0.0
    """Sum of canary log-likelihood ratios (honest:dishonest) as of ``as_of``, decaying like the masses."""
    recent: deque[EvidenceRecord] = field(default_factory=deque)

    # -- evolution ----------------------------------------------------------------------
    def advance(self, to: float, half_life_s: float) -> None:
        """Decay stored masses forward to time ``to`` (no-op if ``to`` is not later)."""
        if to <= self.as_of:
            return
        factor = decay_factor(to - self.as_of, half_life_s)
        for masses in (self.positive, self.negative):
            for kind in masses:
                masses[kind] *= factor
        self.llr *= factor
        self.as_of = to

    def add(
        self,
        record: EvidenceRecord,
        weight: float,
        at: float,
        half_life_s: float,
        max_evidence_mass: float,
        recent_limit: int,
        llr_bounds: tuple[float, float] = (-math.inf, math.inf),
    ) -> None:
        """Add one record's weight (decayed if it is older than ``as_of``).

        If the total mass then exceeds ``max_evidence_mass`` every kind on both
        sides is scaled down by the same factor: the positive/negative ratio is
        kept and the newest record displaces a share of all older ones. This
        keeps the score monotone (more positive evidence never lowers it).
        A record with ``llr`` moves the sequential-test sum instead, clamped to ``llr_bounds``
        (a bounded memory as well: a long honest record cannot be banked against later lies).
        """
        self.advance(at, half_life_s)
        if record.llr is not None:
            low, high = llr_bounds
            self.llr = max(low, min(high, self.llr + record.llr * decay_factor(self.as_of - at, half_life_s)))
        mass = abs(weight) * decay_factor(self.as_of - at, half_life_s)
        side = self.positive if weight > 0 else self.negative
        if weight != 0:
            side[record.kind] = side.get(record.kind, 0.0) + mass
        total = math.fsum(self.positive.values()) + math.fsum(self.negative.values())
        if total > max_evidence_mass:
            shrink = max_evidence_mass / total
            for masses in (self.positive, self.negative):
                for kind in masses:
                    masses[kind] *= shrink
        self.counts[record.kind] = self.counts.get(record.kind, 0) + 1
        self.interactions += 1
        self.first_seen = min(self.first_seen, at)
        self.last_seen = max(self.last_seen, at)
        self.recent.append(record)
        while len(self.recent) > recent_limit:
            self.recent.popleft()

    def llr_at(self, now: float, half_life_s: float) -> float:
        """The canary test sum decayed to ``now``."""
        return self.llr * decay_factor(now - self.as_of, half_life_s)

    def masses_at(self, now: float, half_life_s: float,
                  kinds: Collection[Evidence] | None = None) -> tuple[float, float]:
        """Total (positive, negative) mass decayed to ``now`` (of ``kinds`` only, when given)."""
        factor = decay_factor(now - self.as_of, half_life_s)
        pos = self.positive.values() if kinds is None else [m for k, m in self.positive.items() if k in kinds]
        neg = self.negative.values() if kinds is None else [m for k, m in self.negative.items() if k in kinds]
        # fsum: exact, so the result does not depend on dict order (rows reload identically)
        return math.fsum(pos) * factor, math.fsum(neg) * factor

    # -- rows ---------------------------------------------------------------------------
    def to_row(self) -> dict[str, Any]:
        """One flat row: scalars plus JSON text for the per-kind maps and recent records."""
        return {
            "peer": self.peer,
            "as_of": self.as_of,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "interactions": self.interactions,
            "banned_until": self.banned_until,
            "ban_count": self.ban_count,
            "positive": _dump({k.value: v for k, v in self.positive.items()}),
            "negative": _dump({k.value: v for k, v in self.negative.items()}),
            "counts": _dump({k.value: v for k, v in self.counts.items()}),
            "llr": self.llr,
            "recent": _dump([r.to_row() for r in self.recent]),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PeerState:
        """Inverse of :meth:`to_row`; raises InvalidInput naming the faulty column."""
        if not isinstance(row, Mapping):
            raise InvalidInput(f"reputation row must be a mapping, got {type(row).__name__}")
        try:
            peer = check_peer_id(row["peer"])
            state = cls(
                peer=peer,
                as_of=_time(row["as_of"], "as_of"),
                first_seen=_time(row["first_seen"], "first_seen"),
                last_seen=_time(row["last_seen"], "last_seen"),
                interactions=_count(row["interactions"], "interactions"),
                banned_until=_time(row.get("banned_until", 0.0), "banned_until"),
                ban_count=_count(row.get("ban_count", 0), "ban_count"),
                positive=_kind_map(row.get("positive", "{}"), "positive", float),
                negative=_kind_map(row.get("negative", "{}"), "negative", float),
                counts=_kind_map(row.get("counts", "{}"), "counts", int),
                llr=_finite(row.get("llr", 0.0), "llr"),
            )
            recent = _load(row.get("recent", "[]"), "recent")
            if not isinstance(recent, list):
                raise InvalidInput("column recent must hold a JSON list of evidence rows")
            state.recent.extend(EvidenceRecord.from_row(r) for r in recent)
        except KeyError as exc:
            raise InvalidInput(f"reputation row lacks column {exc.args[0]!r}") from None
        except InvalidInput as exc:
            raise InvalidInput(f"reputation row for {row.get('peer')!r}: {exc}") from None
        return state


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _load(text: object, column: str) -> Any:
    if not isinstance(text, str):
        raise InvalidInput(f"column {column} must be JSON text, got {type(text).__name__}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"column {column} is not valid JSON: {exc}") from None


def _time(value: object, column: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"column {column} must be a finite number, got {value!r}")
    if value < 0:
        raise InvalidInput(f"column {column} must be >= 0, got {value}")
    return float(value)


def _finite(value: object, column: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"column {column} must be a finite number, got {value!r}")
    return float(value)


def _count(value: object, column: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"column {column} must be a non-negative integer, got {value!r}")
    return value


def _kind_map(text: object, column: str, typ: type) -> dict[Evidence, Any]:
    data = _load(text, column)
    if not isinstance(data, dict):
        raise InvalidInput(f"column {column} must hold a JSON object")
    out: dict[Evidence, Any] = {}
    for key, value in data.items():
        try:
            kind = Evidence(key)
        except ValueError:
            raise InvalidInput(f"column {column}: unknown evidence kind {key!r}") from None
        out[kind] = _count(value, column) if typ is int else _time(value, column)
    return out
