"""Typed errors of federated training on the node (all are NodeErrors).

The API turns them into HTTP errors with the message; the CLI prints one line.
"""

from __future__ import annotations

from ..errors import NodeError


class TrainingError(NodeError):
    """Base class of every deliberate error raised by ``peermind.node.training``."""


class TrainingRefused(TrainingError):
    """A peer (or this node) declined to take part; ``reason`` is a short code.

    Codes: ``training_disabled`` (the node runs with --no-join-training),
    ``busy`` (it already takes part in as many runs as it allows),
    ``unknown_run`` (a message for a run it never accepted), ``engine`` (it
    cannot run the requested engine), ``no_data`` (no labelled feedback rows).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"refused ({reason}): {detail}")
        self.reason = reason
        self.detail = detail

    def wire(self) -> str:
        """The refusal as carried in ``TrainReply.error``: ``refused:<code>: <detail>``."""
        return f"refused:{self.reason}: {self.detail}"[:1024]

    @classmethod
    def from_wire(cls, text: str) -> TrainingRefused | None:
        """Parse a ``TrainReply.error``; None when it is not a refusal."""
        if not text.startswith("refused:"):
            return None
        code, _, detail = text.removeprefix("refused:").partition(":")
        return cls(code.strip() or "unknown", detail.strip())


class RunInProgress(TrainingError):
    """This node already coordinates a training run; wait for it or look at its status."""


class InvalidRunRequest(TrainingError):
    """A training request has a bad value (rounds, strategy, engine, ...)."""


class TooFewParticipants(TrainingError):
    """Fewer peers accepted the invitation than ``min_nodes``; the message lists who refused."""


class FlowerEngineError(TrainingError):
    """A Flower deployment-engine process (SuperLink, SuperNode, flwr run) failed."""
