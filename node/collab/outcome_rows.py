"""Verdicts both ways: peers learn how their answers did, and this node learns how its own did.

- Asker side: a seed run judges each peer's answer against ground truth, and a user's
  ``peermind feedback TASK --correct|--wrong`` judges the answer it names; both tell the
  peers that produced the answers (``notify``, see ``node/p2p/outcomes.py``).
  ``AnswerLinks`` remembers, for each recent answer, which peer served which of its tasks.
- Worker side: a verdict on a task this node answered becomes one of its own labelled rows
  (its own embedding of the question, its own model) through the feedback recorder, the
  one writer of labelled rows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from peermind.protocol import TaskRequest

from ..p2p.outcomes import Verdict
from .answer import Answer
from .feedback import LabelledOutcome, label_for
from .job import Job
from .service import Collaboration

VERDICT_MODE = "outcome"
"""Mode of a row labelled by an asker's verdict on this node's answer (a training row). A verdict
on an item of the asker's validation split keeps that split, so both sides validate on it."""
MAX_LINKED_ANSWERS = 2048

Notify = Callable[[str, bytes, bool, str], None]  # (peer, served task_id, correct, split)


def served_job(request: TaskRequest) -> Job:
    """The job a peer's request asked for: embedded exactly like the asker embedded it."""
    return Job(
        kind=request.kind,
        messages=tuple(request.messages),
        prompt=request.prompt,
        continuations=tuple(request.continuations),
        max_tokens=request.max_tokens,
        temperature=request.temperature,
    )


def verdict_outcome(verdict: Verdict, my_id: str) -> LabelledOutcome:
    """This node's own labelled row for an accepted verdict on one of its answers."""
    request, result = verdict.served.request, verdict.served.result
    return LabelledOutcome(
        job=served_job(request),
        peer=my_id,
        model=result.model,
        correct=verdict.correct,
        source=VERDICT_MODE,
        query_id=request.task_id.hex(),
        split="validation" if verdict.split == "validation" else None,
    )


class AnswerLinks:
    """Recent answers' remote contributions, so a user's mark reaches the peers behind them."""

    def __init__(self, notify: Notify, my_id: str, *, max_answers: int = MAX_LINKED_ANSWERS) -> None:
        self._notify = notify
        self._my_id = my_id
        self._max = max_answers
        self._links: OrderedDict[str, list[tuple[str, str, str]]] = OrderedDict()

    def remember(self, _job: Job, answer: Answer) -> None:
        """Keep which peers' served tasks made up ``answer``, so a later verdict reaches them."""
        links = [(c.peer_id, c.served_task_id, c.role) for c in answer.contributions
                 if c.served_task_id and c.peer_id != self._my_id]
        if not links or not answer.task_id:
            return
        self._links[answer.task_id] = links
        while len(self._links) > self._max:
            self._links.popitem(last=False)

    def marked(self, task_id: str, correct: bool) -> int:
        """Tell each peer what the mark on ``task_id`` says about its part; the notices queued."""
        sent = 0
        for peer, served, role in self._links.get(task_id.strip().lower(), []):
            label = label_for(role, correct)
            if label is not None:
                self._notify(peer, bytes.fromhex(served), label, "train")
                sent += 1
        return sent


def wire_outcomes(collab: Collaboration, notify: Notify, my_id: str) -> AnswerLinks:
    """Seed runs and user marks notify the peers that answered."""
    links = AnswerLinks(notify, my_id)
    collab.collaborator.hooks.after_answer.append(links.remember)
    collab.after_mark.append(links.marked)
    collab.seeder.report_outcome = notify
    return links
