"""libp2p protocol IDs and gossipsub topics of peermind.

Versioned names: a breaking change of a stream protocol gets a new ID so
old and new peers fail negotiation cleanly instead of misparsing.
"""

from __future__ import annotations

import re

TASK_PROTOCOL_ID = "/peermind/task/1.0.0"
"""Stream protocol for task negotiation, requests and answers."""

FL_PROTOCOL_ID = "/peermind/fl/1.0.0"
"""Stream protocol for federated-training traffic (Flower messages)."""

_NETWORK = re.compile(r"[A-Za-z0-9._-]{1,64}")


def ads_topic(network: str) -> str:
    """Gossipsub topic carrying ``CapabilityAd`` envelopes for ``network``."""
    if _NETWORK.fullmatch(network) is None:
        raise ValueError(f"network names use 1..64 of [A-Za-z0-9._-], got {network!r}")
    return f"peermind/{network}/ads/1"
