"""One judged canary or idle probe, as a labelled example for whoever wants it.

Every canary this node judges (sent with a user's question or as an idle probe) is a
validation item with a known answer that some model just answered, right or wrong;
this node's own model answers the same item too (``local=True``). The daemon can turn
these into labelled router-training rows by setting ``TrustWiring.on_canary_outcome``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..collab.job import Job

__all__ = ["CanaryOutcome", "OutcomeSink", "ignore_outcome"]


@dataclass(frozen=True)
class CanaryOutcome:
    """Who (``peer_id``, serving ``model``) answered which canary (``job``, ``item_key``), and whether right.

    ``local`` is True for this node's own model's answer (``peer_id`` is then this node's
    ID). ``item_key`` is ``dataset/item id``; ``job`` is exactly what was asked.
    """

    peer_id: str
    model: str
    job: Job
    item_key: str
    dataset: str
    correct: bool
    local: bool


OutcomeSink = Callable[[CanaryOutcome], None]


def ignore_outcome(_outcome: CanaryOutcome) -> None:
    """The default sink: nobody is listening."""
