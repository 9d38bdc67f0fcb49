"""What the trust wiring's background work needs of the running node: narrow, typed ports.

The composition root (the daemon) builds one ``TrustPorts`` from its parts; the wiring
never sees the daemon itself. Each port is the one operation trust uses: send a task to
a peer the way a user question goes (canaries must look like real work), list the
candidates, answer a job on this node's own model at a given queue priority, record
evidence, and the libp2p pieces ban enforcement and opinion gossip act on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from libp2p.abc import IHost
from libp2p.pubsub.pubsub import Pubsub
from peermind.protocol import Signer, TaskRefusal, TaskRequest, TaskResult, Verifier
from peermind.trust import EvidenceSink

from ..collab.answer import Answer, Attempt
from ..collab.candidates import Candidate
from ..collab.job import Job

__all__ = ["AttemptFn", "CollabHooksPort", "RunLocalTask", "TrustPorts"]

AttemptFn = Callable[[Job, Candidate, float], Awaitable[tuple[TaskResult | None, Attempt]]]
"""Ask one candidate one job within a timeout, through the same path as a user's question."""


class RunLocalTask(Protocol):
    """This node's own model on one request, at a queue priority (refusals are values)."""

    def __call__(self, request: TaskRequest, /, *, priority: int,
                 preemptible: bool) -> Awaitable[TaskResult | TaskRefusal]: ...


class CollabHooksPort(Protocol):
    """The Collaborator's hooks the wiring installs itself into."""

    peer_allowed: Callable[[str], bool] | None
    peer_weight: Callable[[str], float] | None
    after_answer: list[Callable[[Job, Answer], None]]


@dataclass(frozen=True)
class TrustPorts:
    """Everything ``TrustWiring.run`` uses of the node, built once by the composition root."""

    attempt: AttemptFn
    candidates: Callable[[], Sequence[Candidate]]
    backing_off: Callable[[str], bool]
    """True while a peer's ``retry_after`` has not passed (do not verify it now)."""
    idle: Callable[[], bool]
    """True while the node has no user work in flight (idle probes only then)."""
    joined: Callable[[], bool]
    """True once the network's ads have arrived (``p2p/settling.py``): start-up probes wait for it."""
    run_local: RunLocalTask
    host: IHost
    pubsub: Callable[[], Pubsub | None]
    forget_ad: Callable[[str], None]
    signer: Signer
    verifier: Verifier
    record_evidence: EvidenceSink
    data_dir: Path
