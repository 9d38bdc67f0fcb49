"""What every part that is handed "the node" may read of it: identity, settings, store.

Parts declare their own typed port on top of :class:`NodeCore` (``api.ports.ApiNode``,
``training.ports.TrainingNode``); the daemon's ``Node`` satisfies them structurally, so no
part imports the daemon.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .config import NodeConfig
    from .store import Store

__all__ = ["NodeCore"]


class NodeCore(Protocol):
    """The node's peer ID (base58), its settings (built once from defaults, file,
    environment and flags) and its one SQLite store."""

    peer_id: str
    config: NodeConfig
    store: Store
