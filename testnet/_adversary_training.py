"""The ``poisoner``: takes part in federated router training with poisoned updates.

It trains honestly on its own rows (so its reply looks normal: same shapes, metrics,
example counts), then replaces every array of the update with ``-10 * w + 5`` (or, with
``PEERMIND_POISON=scale:K``, ``K * w``) before the reply leaves the node. It wraps the
node's own ``FederatedClient`` (``node.training.participant.client``), so invitations,
membership and transport are the node's unchanged code.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flwr.app import Array, ArrayRecord
from peermind.federated import message_from_bytes, message_to_bytes

from ._adversary_base import AdversaryNode

log = logging.getLogger("peermind.testnet.adversary")

__all__ = ["PoisonerNode", "PoisoningClient", "poison"]


def poison(arrays: ArrayRecord, how: str = "flip") -> ArrayRecord:
    """``-10 w + 5`` ("flip") or ``K w`` ("scale:K") for every array of an update."""
    if how.startswith("scale:"):
        factor = float(how.split(":", 1)[1])
        return ArrayRecord({k: Array(factor * arrays[k].numpy()) for k in arrays.keys()})
    return ArrayRecord({k: Array(-10.0 * arrays[k].numpy() + 5.0) for k in arrays.keys()})


class PoisoningClient:
    """A FederatedClient stand-in that poisons the arrays of every successful reply."""

    def __init__(self, inner: Any, on_poison: Any, how: str = "flip") -> None:
        self._inner = inner
        self._on_poison = on_poison
        self._how = how

    def __getattr__(self, name: str) -> Any:  # node_id, context, ... of the real client
        return getattr(self._inner, name)

    def handle(self, payload: bytes) -> bytes:
        reply_bytes: bytes = self._inner.handle(payload)
        reply = message_from_bytes(reply_bytes)
        if reply.has_error() or not reply.has_content():
            return reply_bytes
        records = reply.content.array_records
        if not records:
            return reply_bytes
        for key in list(records.keys()):
            reply.content[key] = poison(records[key], self._how)
        self._on_poison()
        return message_to_bytes(reply)


class PoisonerNode(AdversaryNode):
    role = "poisoner"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        participant = self.training.participant
        participant.client = PoisoningClient(participant.client, lambda: self.stats.count("poisoned_updates"),
                                             os.environ.get("PEERMIND_POISON", "flip"))
