"""The coordinator side of one run: invite, train, push the result, let every node decide.

Any node can coordinate. A run goes

1. **inviting**: every peer whose fresh ad says ``training=True`` gets a signed
   ``TrainInvite``; it accepts (its reply lists its local-DP settings) or
   refuses with a typed reason. This node takes part too when it joins training.
   Fewer acceptances than ``min_nodes`` fail the run before any training.
2. **running**: ``run_training`` (Flower's ServerApp + the chosen strategy) in
   a worker thread, over ``LibP2PTransport`` (engine ``p2p``) or through
   Flower's SuperLink/SuperNodes (engine ``flower``). Each completed round is
   recorded (role ``coordinator``) and turned into trust evidence
   (``update_ok`` / ``update_outlier``) about the peers that sent it.
3. **adopting**: the final weights go to every participant in a signed
   ``query.adopt`` message; each decides on its own validation rows (see
   ``_adoption``) and answers with its decision.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import trio
from flwr.app import Message, RecordDict
from libp2p.peer.id import ID
from peermind.federated import (
    FederatedError,
    NotEnoughParticipants,
    P2PGrid,
    RoundEvent,
    RouterModel,
    TrainingReport,
    run_training,
)
from peermind.protocol import TrainInvite, TrainReply
from peermind.trust import Evidence, EvidenceEvent, EvidenceSink

from ..p2p.streams import PeerCallError, StreamEndpoint
from ..store import Store
from ._adoption import ADOPT_MESSAGE_TYPE, adopt_content
from ._participant import Participant
from ._router_io import schema_json
from ._run_state import RunState
from ._transport import LibP2PTransport
from .errors import TooFewParticipants, TrainingError, TrainingRefused

log = logging.getLogger("peermind.node.training")

OUTLIER_SCALE = 0.5
"""A peer whose update the reputation strategy scaled below this counts as an outlier."""

Reputation = Callable[[str], float]


class FlowerRunner(Protocol):
    """Runs the training phase through Flower's deployment engine (see ``flower/``)."""

    async def train(
        self, state: RunState, initial: RouterModel, participants: list[str],
        reputation: Reputation, on_round: Callable[[RoundEvent], None],
    ) -> TrainingReport: ...


class Coordinator:
    """Runs training runs for one node (one at a time; see TrainingService)."""

    def __init__(
        self,
        *,
        peer_id: str,
        endpoint: StreamEndpoint,
        participant: Participant,
        store: Store,
        candidates: Callable[[], list[str]],
        reputation: Callable[[], Reputation | None],
        evidence: EvidenceSink,
        starting_router: Callable[[], RouterModel],
        runs_dir: Path,
        flower: FlowerRunner | None = None,
        connected: Callable[[str], bool] | None = None,
    ) -> None:
        self.peer_id = peer_id
        self._endpoint = endpoint
        self._participant = participant
        self._store = store
        self._candidates = candidates
        self._reputation = reputation
        self._evidence = evidence
        self._starting_router = starting_router
        self._flower = flower
        self._runs_dir = runs_dir
        self._connected = connected  # a participant whose link broke takes part again once this is true

    # ------------------------------------------------------------------ run
    async def run(self, state: RunState) -> None:
        """Run to completion; never raises (the outcome is in ``state``)."""
        try:
            await self._run(state)
        except (TrainingError, FederatedError) as exc:
            state.finish("failed", f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug must not take the daemon down
            log.exception("training run %s crashed", state.run_id)
            state.finish("failed", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._participant.leave(state.run_id)
            log.info("training run finished", extra={"run": state.run_id, "state": state.state,
                                                     "error": state.error})

    async def _run(self, state: RunState) -> None:
        req = state.request
        participants = await self._invite(state)
        if len(participants) < req.min_nodes:
            refusals = "; ".join(f"{p[:12]}…: {r}" for p, r in state.refused.items()) or "none"
            raise TooFewParticipants(
                f"{len(participants)} node(s) accepted, min_nodes is {req.min_nodes} "
                f"(invited {len(state.invited)}; refusals: {refusals}). Start more nodes, "
                "lower --min-nodes, or check that peers run with join_training on"
            )
        initial = self._starting_router()
        state.schema = schema_json(initial)
        state.privacy = self._privacy(state, participants)
        state.state = "running"
        token = trio.lowlevel.current_trio_token()
        report = await self._train(state, initial, participants, token)
        if report is None:
            return
        final = report.model()
        path = self._runs_dir / state.run_id / "final-router.npz"
        await trio.to_thread.run_sync(_save_router, final, path)
        state.final_router = str(path)
        if req.adopt:
            state.state = "adopting"
            await self._push_adoption(state, final, participants)
        state.finish("done")

    # ------------------------------------------------------------------ invite
    async def _invite(self, state: RunState) -> list[str]:
        req = state.request
        peers = [p for p in dict.fromkeys(self._candidates()) if p != self.peer_id]
        state.invited = list(peers)
        accepted: list[str] = []
        try:
            self._participant.admit(state.run_id, self.peer_id)
            try:
                await self._participant.check_rows()
            except TrainingRefused:
                self._participant.leave(state.run_id)
                raise
            state.accepted[self.peer_id] = self._participant.info()
            accepted.append(self.peer_id)
        except TrainingRefused as refusal:
            state.refused[self.peer_id] = refusal.wire()
        deadline_ms = int((time.time() + req.invite_timeout_s + req.rounds * 2 * req.round_timeout_s) * 1000)
        invite = TrainInvite(
            run_id=state.run_id, round=0, coordinator=self.peer_id,
            deadline_ms=deadline_ms, strategy=req.strategy,
        )

        async def ask(peer: str) -> None:
            try:
                envelope = await self._endpoint.call(ID.from_base58(peer), invite, timeout_s=req.invite_timeout_s)
            except PeerCallError as exc:
                state.refused[peer] = f"unreachable: {exc}"
                return
            except Exception as exc:  # PeerUnreachable and friends
                state.refused[peer] = f"unreachable: {type(exc).__name__}: {exc}"
                return
            reply = envelope.body
            if not isinstance(reply, TrainReply) or reply.run_id != state.run_id:
                state.refused[peer] = f"answered with {type(reply).__name__}"
                return
            if reply.error:
                state.refused[peer] = reply.error
                return
            try:
                info = json.loads(reply.payload or b"{}")
            except ValueError:
                info = {}
            if req.engine not in info.get("engines", ["p2p"]):
                state.refused[peer] = f"refused:engine: cannot run engine {req.engine!r}"
                return
            state.accepted[peer] = info if isinstance(info, dict) else {}
            accepted.append(peer)

        async with trio.open_nursery() as nursery:
            for peer in peers:
                nursery.start_soon(ask, peer)
        return accepted

    # ------------------------------------------------------------------ set-up
    def _privacy(self, state: RunState, participants: list[str]) -> dict[str, object]:
        clip = state.request.clip_norm
        if clip is None:
            return {"clipping": None, "noise": "none (no clipping requested)"}
        noise: dict[str, object] = {}
        for peer in participants:
            dp = state.accepted.get(peer, {}).get("local_dp")
            if dp:
                std = clip * math.sqrt(2 * math.log(1.25 / dp["delta"])) / dp["epsilon"]
                noise[peer] = {**dp, "sensitivity": clip, "noise_std": round(std, 6)}
            else:
                noise[peer] = None
        return {"clipping": {"mod": "fixedclipping_mod", "clipping_norm": clip},
                "noise": noise}

    def _score(self, source: Reputation | None, peer: str) -> float:
        """One peer's reputation in [0, 1]; this node trusts its own updates (1.0)."""
        if source is None or peer == self.peer_id:
            return 1.0
        try:
            value = float(source(peer))
        except Exception:
            log.exception("reputation lookup failed for %s; using 0.5", peer)
            value = 0.5
        return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.0

    def _reputation_snapshot(self, participants: list[str]) -> Reputation:
        """Scores taken now on the trio thread (the flower engine hands them to another process).

        Without a trust hook (``node.reputation``, peer ID -> [0, 1]) every peer
        scores 1.0 and the reputation strategy reduces to its robust clipping.
        """
        source = self._reputation()
        scores = {peer: self._score(source, peer) for peer in participants}
        return lambda peer: scores.get(peer, 0.0)

    def _reputation_live(self, token: trio.lowlevel.TrioToken) -> Reputation:
        """Scores read when the strategy asks (from Flower's worker thread), on the trio thread.

        Live, so the evidence a round produces (``update_outlier``) already weighs
        in the next round of the same run.
        """
        source = self._reputation()

        def lookup(peer: str) -> float:
            try:
                return trio.from_thread.run_sync(self._score, source, peer, trio_token=token)
            except trio.RunFinishedError:
                return 0.0

        return lookup

    # ------------------------------------------------------------------ train
    async def _train(
        self, state: RunState, initial: RouterModel, participants: list[str],
        token: trio.lowlevel.TrioToken,
    ) -> TrainingReport | None:
        req = state.request
        transport: LibP2PTransport | None = None

        def on_round(event: RoundEvent) -> None:  # worker thread
            if transport is not None:
                transport.round = event.round + 1
            self._record_round(state, event, token)

        try:
            if req.engine == "flower":
                if self._flower is None:
                    raise TrainingError("the flower engine is not available on this node")
                snapshot = self._reputation_snapshot(participants)
                return await self._flower.train(state, initial, participants, snapshot, on_round)
            transport = LibP2PTransport(
                endpoint=self._endpoint, run_id=state.run_id, self_peer=self.peer_id,
                participants=participants, local=self._participant.handle,
                trio_token=token, audit=state.audit, connected=self._connected,
            )
            state.engine_info = {"name": "p2p", "protocol": str(self._endpoint.protocol_id)}
            call = functools.partial(
                run_training, transport, rounds=req.rounds, min_nodes=req.min_nodes,
                strategy=req.strategy, round_timeout_s=req.round_timeout_s, initial=initial,
                reputation=self._reputation_live(token), progress=on_round, local_epochs=req.local_epochs,
                lr=req.lr, client_clipping_norm=req.clip_norm, run_id=int(state.run_id),
            )
            return await trio.to_thread.run_sync(call, abandon_on_cancel=True)
        except NotEnoughParticipants as exc:
            state.finish("failed", f"NotEnoughParticipants: {exc}")
            return None

    def _record_round(self, state: RunState, event: RoundEvent, token: trio.lowlevel.TrioToken) -> None:
        report = event.report
        body = asdict(report)
        body["elapsed_s"] = round(event.elapsed_s, 3)
        state.rounds.append(_json_safe(body))
        dropped = sorted(set(report.failed) | set(report.excluded))
        metrics = {
            "strategy": state.request.strategy, "engine": state.request.engine,
            "train": report.train_metrics, "validation": report.validation,
            "failed": report.failed, "excluded": report.excluded, "clipped": report.clipped,
            "notes": list(report.notes), "duration_s": round(report.duration_s, 3),
        }
        try:
            self._store.record_round(run_id=state.run_id, round=report.round, role="coordinator",
                                     participants=report.participants, excluded=dropped,
                                     metrics=_json_safe(metrics))
        except Exception:
            log.exception("could not record round %d", report.round)
        outliers = set(report.excluded) | {p for p, s in report.clipped.items() if s < OUTLIER_SCALE}
        for peer in report.participants:
            if peer == self.peer_id:
                continue
            kind = Evidence.UPDATE_OUTLIER if peer in outliers else Evidence.UPDATE_OK
            detail = f"run {state.run_id} round {report.round}"
            if peer in report.clipped:
                detail += f" scaled {report.clipped[peer]:.3f}"
            try:
                trio.from_thread.run_sync(self._evidence, EvidenceEvent(peer, kind, detail), trio_token=token)
            except trio.RunFinishedError:
                return

    # ------------------------------------------------------------------ queries
    async def query(
        self, state: RunState, participants: list[str], message_type: str,
        content: Callable[[str], RecordDict], *, timeout_s: float,
    ) -> dict[str, Message | str]:
        """Send a Flower query to every participant (this node included) over the training protocol.

        Returns, per peer, its reply Message or why there is none. The same
        P2PGrid and transport as training: signed envelopes, the run's
        membership check on the other side, replies checked against the
        instruction they answer.
        """
        transport = LibP2PTransport(
            endpoint=self._endpoint, run_id=state.run_id, self_peer=self.peer_id,
            participants=[self.peer_id, *[p for p in participants if p != self.peer_id]],
            local=self._participant.handle, trio_token=trio.lowlevel.current_trio_token(),
        )
        transport.round = state.request.rounds

        def send() -> dict[str, Message | str]:
            grid = P2PGrid(transport, run_id=int(state.run_id), default_timeout_s=timeout_s)
            messages = [
                grid.create_message(content(grid.peer_id(node_id) or ""), message_type, node_id, message_type)
                for node_id in grid.refresh()
            ]
            out: dict[str, Message | str] = {}
            for reply in grid.send_and_receive(messages, timeout=timeout_s):
                peer = grid.peer_id(reply.metadata.src_node_id) or str(reply.metadata.src_node_id)
                out[peer] = reply
            for outcome in grid.outcomes():
                if not outcome.ok and outcome.peer not in out:
                    out[outcome.peer] = outcome.reason
            return out

        return await trio.to_thread.run_sync(send, abandon_on_cancel=True)

    # ------------------------------------------------------------------ adopt
    async def _push_adoption(self, state: RunState, model: RouterModel, participants: list[str]) -> None:
        req = state.request
        info: dict[str, str | int | float] = {
            "run-id": state.run_id, "rounds": req.rounds, "strategy": req.strategy,
            "engine": req.engine, "coordinator": self.peer_id,
        }
        replies = await self.query(state, participants, ADOPT_MESSAGE_TYPE,
                                   lambda _peer: adopt_content(model, info), timeout_s=req.round_timeout_s)
        for peer, reply in replies.items():
            if isinstance(reply, str):
                state.adoption[peer] = {"error": reply}
            elif reply.has_error():
                state.adoption[peer] = {"error": (reply.error.reason or "error reply")[:300]}
            else:
                try:
                    state.adoption[peer] = json.loads(str(reply.content.config_records["decision"]["json"]))
                except (KeyError, ValueError) as exc:
                    state.adoption[peer] = {"error": f"unreadable decision: {exc}"}


def _save_router(model: RouterModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)


def _json_safe(value: Any) -> Any:
    """NaN/inf -> None, recursively (SQLite JSON and HTTP clients choke on NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
