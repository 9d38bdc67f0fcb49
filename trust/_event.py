"""What the node reports about a peer, typed: the event the trust ledger turns into a record.

The node learns about peers in many places (streams, ads, opinions, the collaboration
policy, training). Each reports an ``EvidenceEvent``: who, which ``Evidence`` kind, and
for a protocol violation its ``ViolationKind`` and where it was seen. Which protocol
error is which violation is decided once, at the node's p2p edge, from the exception's
type (never from message text); this module only fixes the shape and how an event is
written as a stored record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ._errors import InvalidInput
from ._evidence import Evidence, EvidenceRecord, ViolationKind

__all__ = ["EvidenceEvent", "EvidenceSink", "ViolationSource", "violation_source"]


class ViolationSource(StrEnum):
    """Where a protocol violation was seen (a metrics label and part of the stored detail)."""

    REQUEST = "request"
    """An inbound request on one of this node's protocols."""
    REPLY = "reply"
    """A peer's reply to this node's call."""
    AD = "ad"
    """A capability ad (gossip), its proof of work included."""
    OPINION = "opinion"
    """A trust opinion (gossip)."""


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    """One thing the node observed about ``peer``.

    ``violation`` is required for (and only allowed with) ``Evidence.PROTOCOL_VIOLATION``;
    ``source`` says where a violation came from. ``detail`` is free text for ``explain``.
    Raises InvalidInput on an unknown kind or an inconsistent violation; the peer ID is
    checked when the event becomes a record (``to_record``).
    """

    peer: str
    kind: Evidence
    detail: str = ""
    violation: ViolationKind | None = None
    source: ViolationSource = ViolationSource.REQUEST

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", Evidence(self.kind))
        except ValueError:
            known = ", ".join(k.value for k in Evidence)
            raise InvalidInput(f"unknown evidence kind {self.kind!r}; use one of: {known}") from None
        if (self.kind is Evidence.PROTOCOL_VIOLATION) != (self.violation is not None):
            raise InvalidInput("a protocol violation needs its ViolationKind, and only a violation has one")

    def to_record(self, at: float) -> EvidenceRecord:
        """The stored record (InvalidInput for a bad peer ID): a violation's detail starts with its sub-kind, then a non-request source.

        ``"schema: reply: MalformedEnvelope: ..."``: the format ``EvidenceRecord.subkind`` and
        ``violation_source`` read back (stored rows replay and report unchanged).
        """
        detail = self.detail
        if self.violation is not None:
            where = "" if self.source is ViolationSource.REQUEST else f"{self.source.value}: "
            detail = f"{self.violation.value}: {where}{detail}"
        return EvidenceRecord(self.peer, self.kind, at=at, detail=detail)


EvidenceSink = Callable[[EvidenceEvent], None]
"""Where the node's parts hand the evidence they observe (the trust wiring's ``observe``)."""


def violation_source(record: EvidenceRecord) -> ViolationSource:
    """Where a stored violation record was seen (``request`` unless its detail names another)."""
    rest = record.detail.split(":", 1)[1] if ":" in record.detail else ""
    try:
        return ViolationSource(rest.split(":", 1)[0].strip())
    except ValueError:
        return ViolationSource.REQUEST
