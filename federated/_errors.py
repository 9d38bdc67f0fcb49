"""Typed errors of the federated package.

Everything this package raises on bad input, bad weights, failed peers or a
broken Flower upgrade is a :class:`FederatedError`, so the node can catch one
type at its edge, log one line and keep serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class FederatedError(Exception):
    """Base class of every error raised by ``peermind.federated``."""


class InvalidEmbedding(FederatedError):
    """An embedding passed to the router has the wrong shape or non-finite values."""


class InvalidFeedback(FederatedError):
    """A feedback row or embedding has the wrong shape, dtype or non-finite values."""


class IncompatibleWeights(FederatedError):
    """Router weights do not match the expected feature schema.

    Raised instead of silently loading weights trained for another embedder,
    another schema version or another set of models.
    """


class RouterFileError(FederatedError):
    """A saved router file is missing, truncated or not a peermind router file."""


class EmbedderUnavailable(FederatedError):
    """The sentence-embedding model could not be loaded from its package."""


class TransportError(FederatedError):
    """One exchange with one peer failed or timed out (raised by a GridTransport)."""


class MalformedMessage(FederatedError):
    """Bytes received over the training protocol are not a valid Flower message for us."""


class InvalidTrainingConfig(FederatedError):
    """run_training or a strategy was called with arguments that cannot work."""


class AggregationFailed(FederatedError):
    """The strategy could not aggregate a round's replies (see the message for why)."""


class FlowerIncompatible(FederatedError):
    """The installed Flower no longer matches the internals our adapter relies on."""


class NotEnoughParticipants(FederatedError):
    """Fewer than ``required`` peers took part in a round.

    ``available`` is how many peers could be asked, ``replied`` how many sent
    a usable reply; ``failed`` maps peer ID -> reason for the others.
    """

    round: int
    required: int
    available: int
    replied: int
    failed: dict[str, str]
    partial: Any
    """run_training sets this to a TrainingReport of the rounds that completed."""

    def __init__(
        self,
        *,
        round: int,
        required: int,
        available: int,
        replied: int,
        failed: Mapping[str, str] | None = None,
        detail: str = "",
    ) -> None:
        self.round = round
        self.required = required
        self.available = available
        self.replied = replied
        self.failed = dict(failed or {})
        self.partial = None
        reasons = "; ".join(f"{peer}: {why}" for peer, why in sorted(self.failed.items()))
        message = (
            f"round {round}: {replied} usable replies from {available} reachable peers, "
            f"but min_nodes={required}"
        )
        if detail:
            message += f" ({detail})"
        if reasons:
            message += f"; failures: {reasons}"
        message += ". Wait for more peers or lower min_nodes."
        super().__init__(message)
