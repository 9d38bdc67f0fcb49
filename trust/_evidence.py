"""What the node tells the trust package: typed, timestamped evidence about a peer."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._errors import InvalidInput
from ._ids import check_peer_id

__all__ = ["MAX_DETAIL_LEN", "Evidence", "EvidenceRecord", "ViolationKind"]

MAX_DETAIL_LEN = 300


class Evidence(StrEnum):
    """Kinds of evidence; the value is the stable string stored in rows."""

    TASK_OK = "task_ok"
    """A task finished before its deadline (liveness only, says nothing about correctness)."""
    TASK_LATE = "task_late"
    """A task finished, but after its deadline."""
    TIMEOUT = "timeout"
    """No answer before the deadline."""
    REFUSAL_BUSY = "refusal_busy"
    """The peer declined because it is at capacity (honest back-pressure)."""
    REFUSAL_OTHER = "refusal_other"
    """The peer declined for any other reason."""
    PROTOCOL_VIOLATION = "protocol_violation"
    """Bad signature, replay, schema failure, oversize; ``detail`` starts with a ViolationKind."""
    ANSWER_WRONG = "answer_wrong"
    """Failed a canary (a question whose answer this node knows)."""
    ANSWER_RIGHT = "answer_right"
    """Passed a canary."""
    CROSS_CHECK_DISAGREE = "cross_check_disagree"
    """Disagreed with a peer that a third, independent source agreed with."""
    CROSS_CHECK_AGREE = "cross_check_agree"
    """Agreed with other sources on a cross-checked question."""
    UPDATE_OUTLIER = "update_outlier"
    """A federated training update was rejected by robust aggregation."""
    UPDATE_OK = "update_ok"
    """A federated training update was accepted."""
    FLOOD = "flood"
    """The peer exceeded a rate limit."""
    CONFIDENCE_MISCALIBRATED = "confidence_miscalibrated"
    """The peer keeps advertising high confidence on answers that turn out wrong."""


class ViolationKind(StrEnum):
    """Sub-kinds of :attr:`Evidence.PROTOCOL_VIOLATION`, written first in ``detail``.

    Example detail: ``"bad_signature: envelope 3f2a..."``. Each has its own
    default weight in :class:`~peermind.trust.TrustParams` because a forged
    signature is always deliberate while a schema failure may be a version skew.
    """

    BAD_SIGNATURE = "bad_signature"
    REPLAY = "replay"
    SCHEMA = "schema"
    OVERSIZE = "oversize"
    PROOF_OF_WORK = "pow"
    """An ad whose proof of work is missing or wrong (weighed by the fallback violation weight)."""


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """One observation about ``peer`` at unix time ``at`` (default: now).

    ``weight_override`` replaces the kind's default weight (its sign decides
    whether it counts as positive or negative evidence); ``detail`` is free text
    kept for ``explain`` (truncated to 300 chars); ``llr`` marks a canary verdict judged by
    the sequential test (see ``canary_llr``). For protocol violations the
    detail starts with the :class:`ViolationKind`, e.g. ``"replay: nonce 81"``.
    """

    peer: str
    kind: Evidence
    weight_override: float | None = None
    at: float = field(default_factory=time.time)
    detail: str = ""
    llr: float | None = None
    """A canary verdict's log-likelihood ratio honest:dishonest (``canary_llr``). When set, the
    record moves the peer's sequential-test sum instead of its Beta masses (its kind's weight
    is not used); see ReputationBook."""

    def __post_init__(self) -> None:
        check_peer_id(self.peer)
        try:
            kind = Evidence(self.kind)
        except ValueError:
            known = ", ".join(k.value for k in Evidence)
            raise InvalidInput(
                f"unknown evidence kind {self.kind!r}; use one of: {known}"
            ) from None
        object.__setattr__(self, "kind", kind)
        if self.weight_override is not None:
            weight = _finite(self.weight_override, "weight_override")
            object.__setattr__(self, "weight_override", weight)
        if self.llr is not None:
            object.__setattr__(self, "llr", _finite(self.llr, "llr"))
        at = _finite(self.at, "at")
        if at < 0:
            raise InvalidInput(f"at must be a unix time in seconds (>= 0), got {at}")
        object.__setattr__(self, "at", at)
        if not isinstance(self.detail, str):
            raise InvalidInput(f"detail must be a string, got {type(self.detail).__name__}")
        if len(self.detail) > MAX_DETAIL_LEN:
            object.__setattr__(self, "detail", self.detail[: MAX_DETAIL_LEN - 3] + "...")

    @property
    def subkind(self) -> str:
        """The violation sub-kind (text before the first ':' of detail), '' for other kinds."""
        if self.kind is not Evidence.PROTOCOL_VIOLATION:
            return ""
        return self.detail.split(":", 1)[0].strip()

    def to_row(self) -> dict[str, Any]:
        """A flat dict of plain values (str/float/None), one column each (``llr`` only when set)."""
        row: dict[str, Any] = {
            "peer": self.peer,
            "kind": self.kind.value,
            "weight_override": self.weight_override,
            "at": self.at,
            "detail": self.detail,
        }
        if self.llr is not None:
            row["llr"] = self.llr
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EvidenceRecord:
        """Rebuild a record from :meth:`to_row` output; raises InvalidInput on a bad row."""
        if not isinstance(row, Mapping):
            raise InvalidInput(f"evidence row must be a mapping, got {type(row).__name__}")
        missing = [k for k in ("peer", "kind", "at") if k not in row]
        if missing:
            raise InvalidInput(f"evidence row lacks {', '.join(missing)}: {dict(row)!r}")
        return cls(
            peer=row["peer"],
            kind=row["kind"],
            weight_override=row.get("weight_override"),
            at=row["at"],
            detail=row.get("detail") or "",
            llr=row.get("llr"),
        )


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise InvalidInput(f"{name} must be finite, got {value!r}")
    return result
