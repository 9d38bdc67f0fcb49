"""An answer and its provenance: who was asked, who answered, and at what price."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Attempt:
    """One call to one candidate, successful or not."""

    peer_id: str
    model: str
    outcome: str  # ok | refused:<reason> | timeout | failed | bad_reply | unreachable
    latency_ms: float
    detail: str = ""


@dataclass(frozen=True)
class Answer:
    text: str
    mode: str
    answered_by: str
    model: str
    confidence: float
    cost: float
    latency_ms: float
    escalated: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    reason: str = ""
    scores: tuple[tuple[float, int], ...] = ()

    @property
    def asked(self) -> list[str]:
        return list(dict.fromkeys(a.peer_id for a in self.attempts))

    def provenance(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("text")
        data["asked"] = self.asked
        return data
