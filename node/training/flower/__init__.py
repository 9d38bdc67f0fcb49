"""Engine ``flower``: federated training through Flower's own SuperLink/SuperNode processes.

The coordinator supervises a ``flower-superlink`` and runs ``flwr run`` on a
generated app directory; every participant supervises its own
``flower-supernode``, fed by rows exported to a private file. Control
messages (prepare, start, leave) travel as signed Flower queries over the
node's training protocol. See ``_coordinator`` and ``_participant``.
"""

from ._coordinator import FlowerCoordinator
from ._env import flower_available
from ._participant import FlowerParticipant

__all__ = ["FlowerCoordinator", "FlowerParticipant", "flower_available"]
