"""peermind.node.training: federated router training across real node processes.

Flower runs as a library over the node's libp2p training protocol
(``/peermind/fl/1.0.0``, engine ``p2p``, the default) or through Flower's own
SuperLink/SuperNode processes (engine ``flower``). Any node can coordinate a
run; every node that joins training hosts the ClientApp on its own feedback
rows, and each node decides for itself whether to adopt the resulting router.

    node.training = TrainingService(node)      # the daemon does this
    await nursery.start(node.training.run)      # after the host is up
    state = node.training.start(RunRequest(rounds=3, min_nodes=3))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from ._request import ENGINES, RunRequest
    from ._run_state import RunState
    from ._service import TrainingService
    from .client import TrainingClient
    from .errors import (
        FlowerEngineError,
        InvalidRunRequest,
        RunInProgress,
        TooFewParticipants,
        TrainingError,
        TrainingRefused,
    )

# Loaded on first use (PEP 562): `peermind train status` needs only the HTTP client, not
# Flower and libp2p, which the service modules import.
_HOMES = {
    "ENGINES": "._request",
    "RunRequest": "._request",
    "RunState": "._run_state",
    "TrainingService": "._service",
    "TrainingClient": ".client",
    "FlowerEngineError": ".errors",
    "InvalidRunRequest": ".errors",
    "RunInProgress": ".errors",
    "TooFewParticipants": ".errors",
    "TrainingError": ".errors",
    "TrainingRefused": ".errors",
}


__getattr__ = lazy_attributes(__name__, _HOMES, globals())

__all__ = [
    "ENGINES",
    "FlowerEngineError",
    "InvalidRunRequest",
    "RunInProgress",
    "RunRequest",
    "RunState",
    "TooFewParticipants",
    "TrainingClient",
    "TrainingError",
    "TrainingRefused",
    "TrainingService",
]
