"""A GridTransport over Flower's own deployment Grid (used inside ``flwr-serverapp``).

``run_training`` drives a P2PGrid over a GridTransport; here the transport's
"network" is the SuperLink: each instruction the P2PGrid serialised is
re-addressed to the SuperNode of that peer, pushed through the real Grid,
and its reply re-addressed back, so the same ServerApp, strategies and round
guard run unchanged on the deployment engine. Replies are pulled every
``poll_s`` (Flower's own ``send_and_receive`` sleeps 3 s between pulls).

Which SuperNode is which peer: with SuperNode authentication the coordinator
registered each participant's key and passes node_id -> peer ID
(``identities``); on loopback without TLS each ClientApp reports the peer ID
its own node gave its SuperNode (``query.identity``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid
from peermind.federated import TransportError, message_from_bytes, message_to_bytes

log = logging.getLogger("peermind.node.training.flower")

IDENTITY_ACTION = "identity"
PEER_KEY = "peer-id"

Audit = Callable[[str, str, bytes], None]
"""(group_id, peer, reply bytes) for every reply received."""


class FlowerGridTransport:
    def __init__(
        self,
        grid: Grid,
        *,
        expected: int,
        wait_s: float,
        identities: Mapping[int, str] | None = None,
        audit: Audit | None = None,
        poll_s: float = 0.2,
    ) -> None:
        self._grid = grid
        self._audit = audit
        self._poll_s = poll_s
        self._node_of: dict[str, int] = {}
        self._discover(expected, wait_s, identities)

    # ------------------------------------------------------------------ peers
    def _discover(self, expected: int, wait_s: float, identities: Mapping[int, str] | None) -> None:
        deadline = time.monotonic() + wait_s
        ids: list[int] = []
        while time.monotonic() < deadline:
            ids = list(self._grid.get_node_ids())
            if len(ids) >= expected:
                break
            time.sleep(0.5)
        if identities:
            self._node_of = {identities[n]: n for n in ids if n in identities}
            return
        asks = [
            Message(RecordDict(), dst_node_id=n, message_type=f"query.{IDENTITY_ACTION}") for n in ids
        ]
        budget = max(5.0, deadline - time.monotonic())
        for reply in self._grid.send_and_receive(asks, timeout=budget):
            if reply.has_error():
                continue
            record = reply.content.config_records.get(PEER_KEY)
            peer = record.get(PEER_KEY) if record is not None else None
            if isinstance(peer, str) and peer and peer not in self._node_of:
                self._node_of[peer] = reply.metadata.src_node_id

    def peers(self) -> list[str]:
        return list(self._node_of)

    # ------------------------------------------------------------------ exchange
    def exchange(self, peer: str, payload: bytes, timeout_s: float) -> bytes:
        result = self.exchange_many({peer: payload}, timeout_s)[peer]
        if isinstance(result, BaseException):
            raise result
        return result

    def exchange_many(
        self, payloads: Mapping[str, bytes], timeout_s: float
    ) -> Mapping[str, bytes | BaseException]:
        # Return a little before the grid's own deadline (see LibP2PTransport.exchange_many):
        # the grid sees none of the batch's replies until this call returns.
        deadline = time.monotonic() + timeout_s - min(1.0, 0.1 * timeout_s)
        results: dict[str, bytes | BaseException] = {}
        outgoing: list[tuple[str, Message, Message]] = []
        for peer, payload in payloads.items():
            node_id = self._node_of.get(peer)
            if node_id is None:
                results[peer] = TransportError(f"{peer} has no SuperNode in this run")
                continue
            try:
                original = message_from_bytes(payload)
            except Exception as exc:
                results[peer] = TransportError(f"unreadable instruction: {exc}")
                continue
            meta = original.metadata
            real = Message(original.content, dst_node_id=node_id,
                           message_type=meta.message_type, group_id=meta.group_id)
            outgoing.append((peer, original, real))
        if not outgoing:
            return results
        ids = list(self._grid.push_messages([real for _, _, real in outgoing]))
        pending = {mid: (peer, original) for mid, (peer, original, _) in zip(ids, outgoing, strict=True)}
        while pending and time.monotonic() < deadline:
            for reply in self._grid.pull_messages(list(pending)):
                entry = pending.pop(reply.metadata.reply_to_message_id, None)
                if entry is None:
                    continue
                peer, original = entry
                back = (Message(reply.error, reply_to=original) if reply.has_error()
                        else Message(reply.content, reply_to=original))
                data = message_to_bytes(back)
                if self._audit is not None:
                    self._audit(original.metadata.group_id, peer, data)
                results[peer] = data
            if pending:
                time.sleep(self._poll_s)
        for peer, _ in pending.values():
            results[peer] = TransportError(f"{peer} did not answer within {timeout_s:.1f} s (round timeout)")
        return results


def identity_reply(msg: Message, peer_id: str) -> Message:
    """The ClientApp's answer to ``query.identity``."""
    return Message(RecordDict({PEER_KEY: ConfigRecord({PEER_KEY: peer_id})}), reply_to=msg)
