"""Engine ``flower``: federated training through Flower's own SuperLink/SuperNode processes.

The coordinator supervises a ``flower-superlink`` and runs ``flwr run`` on a
generated app directory; every participant supervises its own
``flower-supernode``, fed by rows exported to a private file. Control
messages (prepare, start, leave) travel as signed Flower queries over the
node's training protocol. See ``_coordinator`` and ``_participant``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_attributes
from ._env import flower_available

if TYPE_CHECKING:
    from ._coordinator import FlowerCoordinator
    from ._participant import FlowerParticipant

# Loaded on first use (PEP 562): both import Flower, which a node needs only once a run starts;
# flower_available() (is the engine installed?) does not.
__getattr__ = lazy_attributes(__name__, {"FlowerCoordinator": "._coordinator", "FlowerParticipant": "._participant"},
                              globals())

__all__ = ["FlowerCoordinator", "FlowerParticipant", "flower_available"]
