"""The GridTransport of one training run: Flower messages over ``/peermind/fl/1.0.0``.

Flower's ServerApp runs in a worker thread (``run_training`` is synchronous),
so every call into this transport comes from a thread. ``exchange_many`` hops
into the node's trio loop once per batch (``trio.from_thread.run``) and asks all
peers concurrently in a nursery; each call is bounded by the batch timeout, so
a dead or stalled peer costs at most one round timeout. The coordinator's own
ClientApp is reached without the network (same bytes, same FederatedClient).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import trio
from libp2p.peer.id import ID
from peermind.federated import TransportError
from peermind.protocol import TrainMessage, TrainReply

from ..p2p.host import PeerUnreachable
from ..p2p.streams import PeerCallError, PeerFailed, StreamEndpoint
from ._audit import WireAudit
from .errors import TrainingRefused

log = logging.getLogger("peermind.node.training")

LocalExchange = Callable[[bytes], Awaitable[bytes]]


class LibP2PTransport:
    """BatchGridTransport to the peers that accepted run ``run_id``.

    ``round`` is stamped on outgoing TrainMessages (the coordinator advances
    it from run_training's progress callback). Peers whose connection broke
    (not merely slow) are left out of later snapshots: the round does not
    wait on a dial to a dead process each time. Such a peer is back in the
    next snapshot once ``connected(peer)`` says a connection to it is up again
    (its link returned and one side redialled): a run outlives a network blip.
    A peer that refused the run stays out.
    """

    def __init__(
        self,
        *,
        endpoint: StreamEndpoint,
        run_id: str,
        self_peer: str,
        participants: list[str],
        local: LocalExchange | None,
        trio_token: trio.lowlevel.TrioToken,
        audit: WireAudit | None = None,
        connected: Callable[[str], bool] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self.run_id = run_id
        self._self = self_peer
        self._participants = list(dict.fromkeys(participants))
        self._local = local
        self._token = trio_token
        self._audit = audit
        self._connected = connected
        self.gone: dict[str, str] = {}
        self._lost: set[str] = set()  # gone because the connection broke, not because it refused
        self.round = 1

    def peers(self) -> list[str]:
        """The participants this round asks (called from Flower's worker thread)."""
        if self._lost and self._connected is not None:
            try:
                back = trio.from_thread.run_sync(self._reconnected, trio_token=self._token)
            except trio.RunFinishedError:
                back = []
            for peer in back:
                self._lost.discard(peer)
                reason = self.gone.pop(peer, "")
                log.info("training peer reconnected, asked again", extra={"peer": peer, "lost": reason})
        return [p for p in self._participants if p not in self.gone]

    def _reconnected(self) -> list[str]:
        assert self._connected is not None
        return [p for p in self._lost if self._connected(p)]

    def exchange(self, peer: str, payload: bytes, timeout_s: float) -> bytes:
        result = self.exchange_many({peer: payload}, timeout_s)[peer]
        if isinstance(result, BaseException):
            raise result
        return result

    def exchange_many(
        self, payloads: Mapping[str, bytes], timeout_s: float
    ) -> Mapping[str, bytes | BaseException]:
        """All replies at once, returned a little *before* ``timeout_s``.

        The grid waits exactly ``timeout_s`` for this call and only then sees
        any reply of the batch; if a hung peer kept the batch open to the very
        deadline, the healthy peers' replies would arrive too late as well. So
        the peers get ``timeout_s`` minus a margin (10 %, at most 1 s).
        """
        jobs = dict(payloads)
        budget = max(0.001, timeout_s - min(1.0, 0.1 * timeout_s))
        try:
            return trio.from_thread.run(self._exchange_all, jobs, budget, trio_token=self._token)
        except trio.RunFinishedError:
            return {peer: TransportError("the node is shutting down") for peer in jobs}

    async def _exchange_all(
        self, jobs: dict[str, bytes], timeout_s: float
    ) -> dict[str, bytes | BaseException]:
        results: dict[str, bytes | BaseException] = {}

        async def one(peer: str, payload: bytes) -> None:
            try:
                with trio.fail_after(max(timeout_s, 0.001)):
                    results[peer] = await self._call(peer, payload, timeout_s)
            except trio.TooSlowError:
                results[peer] = TransportError(f"{peer} did not answer within {timeout_s:.1f} s")
            except TransportError as exc:
                results[peer] = exc
            except Exception as exc:  # a bug in one call must not lose the others' replies
                log.exception("training exchange with %s failed", peer)
                results[peer] = TransportError(f"{type(exc).__name__}: {exc}")

        async with trio.open_nursery() as nursery:
            for peer, payload in jobs.items():
                nursery.start_soon(one, peer, payload)
        return results

    async def _call(self, peer: str, payload: bytes, timeout_s: float) -> bytes:
        if peer == self._self:
            if self._local is None:
                raise TransportError("this node does not take part in its own run")
            reply = await self._local(payload)
        else:
            reply = await self._remote(peer, payload, timeout_s)
        if self._audit is not None:
            self._audit.observe(self.round, peer, reply)
        return reply

    async def _remote(self, peer: str, payload: bytes, timeout_s: float) -> bytes:
        body = TrainMessage(run_id=self.run_id, round=self.round, payload=payload)
        try:
            envelope = await self._endpoint.call(ID.from_base58(peer), body, timeout_s=timeout_s)
        except (PeerUnreachable, PeerFailed) as exc:
            self.gone[peer] = str(exc)
            self._lost.add(peer)
            raise TransportError(str(exc)) from exc
        except PeerCallError as exc:
            raise TransportError(str(exc)) from exc
        reply = envelope.body
        if not isinstance(reply, TrainReply) or reply.run_id != self.run_id:
            raise TransportError(f"{peer} answered with {type(reply).__name__}, not a TrainReply")
        if reply.error:
            refusal = TrainingRefused.from_wire(reply.error)
            if refusal is not None:
                self.gone[peer] = str(refusal)
            raise TransportError(f"{peer}: {reply.error}")
        return reply.payload
