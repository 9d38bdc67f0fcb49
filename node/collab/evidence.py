"""Evidence from knowledge peers, shared by ``consult`` and ``moa``: whom to ask, what to keep, how to use it.

The peers whose advertised corpus summary matches the question (``knowledge_peers``)
get the job with ``evidence`` set. Each answers from its own documents and returns
short passages only if its policy shares them (``knowledge.share_passages``); a peer
that shares none still answers, and its answer becomes a hint ("a peer holding
documents on this topic chose ..."). ``evidence_of`` keeps the pieces close to the
best one; ``with_evidence`` puts them in front of the question for THIS node to
answer: evidence is never forwarded to another peer (the wire audit checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..knowledge.prompting import grounded
from .job import Job
from .knowledge_match import MATCH_FLOOR
from .utility import Estimate

if TYPE_CHECKING:
    from .policy import Reply

EVIDENCE_PEERS = 3
HINT_CHARS = 300
MAX_EVIDENCE = 4
EVIDENCE_MARGIN = 0.15


@dataclass(frozen=True)
class Evidence:
    """What the knowledge peers' replies gave: passages they shared and answers from those that share none."""

    passages: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()

    @property
    def pieces(self) -> list[str]:
        """Passages first, then answers given without text, in the order they go into the prompt."""
        return [*self.passages, *self.hints]

    def __bool__(self) -> bool:
        return bool(self.passages or self.hints)

    def summary(self) -> str:
        """What was gathered, in counts only (for provenance and logs: never the text)."""
        return f"{len(self.passages)} passages, {len(self.hints)} answers without text"


def knowledge_peers(estimates: Sequence[Estimate], limit: int = EVIDENCE_PEERS, *,
                    at_least_one: bool = True) -> list[Estimate]:
    """Remote candidates whose corpus matches the question, best match first.

    ``at_least_one``: when no match clears ``MATCH_FLOOR``, the best-matching peer still
    counts (consult asks someone); moa passes False and then asks no extra peer.
    """
    knowing = sorted((e for e in estimates if e.knowledge_match is not None and not e.candidate.is_local),
                     key=lambda e: -(e.knowledge_match or 0.0))
    relevant = [e for e in knowing if (e.knowledge_match or 0.0) > MATCH_FLOOR]
    fallback = knowing[:1] if at_least_one else []
    return (relevant or fallback)[:limit]


def evidence_of(job: Job, replies: Sequence[Reply]) -> Evidence:
    """Passages shared, and answer hints from peers that drew on documents but share no text.

    Every piece is ranked by the retrieval similarity its peer reported (a hint by its
    peer's best citation); only pieces within ``EVIDENCE_MARGIN`` of the best one and at
    most ``MAX_EVIDENCE`` are kept, so a peer whose documents only brush the question
    does not drown out the one whose documents answer it. Replies without citations
    (a peer that retrieved nothing) give no evidence.
    """
    ranked: list[tuple[float, bool, str]] = []
    for r in replies:
        sims = [c.similarity for c in r.result.citations]
        if r.result.passages:
            ranked += [(sims[i] if i < len(sims) else 0.0, True, p) for i, p in enumerate(r.result.passages)]
        elif sims and r.choice is not None and r.choice < len(job.continuations):
            ranked.append((max(sims), False,
                           f"A peer holding documents on this topic chose: {job.continuations[r.choice].strip()}"))
        elif sims and r.result.text.strip():
            ranked.append((max(sims), False,
                           f"A peer holding documents on this topic answered: {r.result.text.strip()[:HINT_CHARS]}"))
    if not ranked:
        return Evidence()
    best = max(sim for sim, _, _ in ranked)
    kept = sorted((x for x in ranked if x[0] >= best - EVIDENCE_MARGIN), key=lambda x: -x[0])[:MAX_EVIDENCE]
    return Evidence(tuple(t for _, is_passage, t in kept if is_passage),
                    tuple(t for _, is_passage, t in kept if not is_passage))


def with_evidence(job: Job, evidence: Sequence[str]) -> Job:
    """``job`` with ``evidence`` before the question, for this node only (``evidence`` flag cleared)."""
    messages, prompt = grounded(job.messages, job.prompt, evidence)
    return replace(job, messages=messages, prompt=prompt, evidence=False)


def matches_text(peers: Sequence[Estimate]) -> str:
    """The consulted peers and their knowledge match, for ``--explain``."""
    return ", ".join(f"{e.candidate.peer_id[:12]}… {e.knowledge_match or 0.0:.2f}" for e in peers)
