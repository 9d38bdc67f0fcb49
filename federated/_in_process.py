"""A GridTransport to FederatedClients living in this process.

For tests, benchmarks and single-host experiments: every byte still goes
through Flower serialisation and the real ClientApp, only the network hop is
replaced by a function call. ``down`` and ``delay_s`` inject the failures a
real network produces.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ._errors import MalformedMessage, TransportError
from ._federated_client import FederatedClient


class InProcessTransport:
    """GridTransport whose peers are ``clients`` (peer ID -> FederatedClient)."""

    def __init__(self, clients: Mapping[str, FederatedClient]) -> None:
        self.clients = dict(clients)
        self.down: set[str] = set()
        self.delay_s: dict[str, float] = {}
        self.exchanges = 0

    def peers(self) -> list[str]:
        return list(self.clients)

    def exchange(self, peer: str, payload: bytes, timeout_s: float) -> bytes:
        self.exchanges += 1
        client = self.clients.get(peer)
        if client is None:
            raise TransportError(f"unknown peer {peer}")
        if peer in self.down:
            raise TransportError(f"peer {peer} is unreachable")
        delay = self.delay_s.get(peer, 0.0)
        if delay:
            time.sleep(min(delay, timeout_s))
            if delay >= timeout_s:
                raise TransportError(f"peer {peer} did not answer within {timeout_s:.2f} s")
        try:
            return client.handle(payload)
        except MalformedMessage as exc:
            raise TransportError(f"peer {peer} rejected the message: {exc}") from exc
