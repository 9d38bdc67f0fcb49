"""The live state of one training run as the coordinator sees it (what `train status` shows).

Written from the trio loop and from run_training's worker thread (progress
callbacks append round reports); every field is replaced or appended whole,
which is atomic under the GIL, and readers only serialise a snapshot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ._audit import WireAudit
from ._request import RunRequest

STATES = ("inviting", "running", "adopting", "done", "failed")


@dataclass
class RunState:
    run_id: str
    request: RunRequest
    coordinator: str
    state: str = "inviting"
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    invited: list[str] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # a peer's invite reply, read back
    refused: dict[str, str] = field(default_factory=dict)
    rounds: list[dict[str, object]] = field(default_factory=list)
    adoption: dict[str, dict[str, object]] = field(default_factory=dict)
    schema: dict[str, object] = field(default_factory=dict)
    privacy: dict[str, object] = field(default_factory=dict)
    engine_info: dict[str, Any] = field(default_factory=dict)  # the engine fills in its own keys
    error: str = ""
    final_router: str = ""
    """Path of the run's final global router file (on the coordinator), once trained."""
    audit: WireAudit = field(default_factory=WireAudit)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def finish(self, state: str, error: str = "") -> None:
        self.error = error
        self.finished_at = time.time()
        self.state = state

    def to_json(self, *, audit: bool = True) -> dict[str, object]:
        end = self.finished_at or time.time()
        body: dict[str, object] = {
            "run_id": self.run_id,
            "coordinator": self.coordinator,
            "state": self.state,
            "request": self.request.to_json(),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "elapsed_s": round(end - self.started_at, 3),
            "invited": list(self.invited),
            "accepted": dict(self.accepted),
            "refused": dict(self.refused),
            "rounds": list(self.rounds),
            "adoption": dict(self.adoption),
            "schema": dict(self.schema),
            "privacy": dict(self.privacy),
            "engine": dict(self.engine_info),
            "error": self.error,
            "final_router": self.final_router,
        }
        if audit:
            body["wire_audit"] = self.audit.to_json()
        return body
