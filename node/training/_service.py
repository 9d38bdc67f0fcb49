"""TrainingService: everything federated training needs on a running node, in one place.

The daemon builds one (``Node.training``) and starts ``run`` in its nursery
once the host is up. It serves ``/peermind/fl/1.0.0`` (own verifier with the
larger training frame cap), hosts this node's ClientApp (Participant), runs
the runs this node coordinates (Coordinator) in its own nursery, and answers
the API's questions (status, history, join/leave).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio
from libp2p.peer.id import ID
from peermind.federated import FeedbackRow
from peermind.protocol import (
    FL_PROTOCOL_ID,
    Envelope,
    TrainInvite,
    TrainMessage,
    TrainReply,
    Verifier,
)
from peermind.protocol import Message as WireMessage

from ..p2p.host import dial, is_connected, parse_peer_addr
from ..p2p.replay_floors import ReplayFloors
from ..p2p.streams import StreamEndpoint, UnexpectedMessage
from ._request import RunRequest
from ._router_io import current_router, install_router, starting_router
from ._rows import load_rows
from ._run_state import RunState
from .errors import RunInProgress, TrainingError
from .ports import TrainingNode

if TYPE_CHECKING:
    from flwr.app import Context, Message

    from ._coordinator import Coordinator
    from ._participant import LocalDpSettings, Participant
    from .flower import FlowerParticipant

log = logging.getLogger("peermind.node.training")

KEEP_RUNS = 10
"""Finished runs kept in memory for `train status --run` (history lives in the store)."""


class TrainingService:
    """Federated router training for one node; see the module docstring."""

    def __init__(self, node: TrainingNode) -> None:
        self._node = node
        self._available = bool(node.config.join_training)
        self._participant: Participant | None = None
        self.flower_participant: FlowerParticipant | None = None
        self._flower_running = False
        self.endpoint: StreamEndpoint | None = None
        self.coordinator: Coordinator | None = None
        self.runs: OrderedDict[str, RunState] = OrderedDict()
        self.active: RunState | None = None
        self._nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None

    # ------------------------------------------------------------------ the engine, built on first use
    # Flower (flwr, grpc, protobuf) costs a node ~40 MB of RSS and most nodes are idle most of
    # the time, so the ClientApp, the coordinator and the Flower engine are built only when a
    # run starts here or a training message arrives; until then the node imports no Flower.
    @property
    def participant(self) -> Participant:
        """This node's ClientApp behind the training protocol (built, and Flower imported, on first use)."""
        if self._participant is None:
            self._participant = self._build_participant()
        if self._nursery is not None and self.flower_participant is not None and not self._flower_running:
            self._flower_running = True
            self._nursery.start_soon(self.flower_participant.run)
        return self._participant

    def _build_participant(self) -> Participant:
        from ._adoption import ADOPT_ACTION
        from ._participant import LocalDpSettings, Participant, QueryHandler
        from .flower import FlowerParticipant, flower_available

        settings = self._node.config.training
        dp: LocalDpSettings | None = None
        if settings.dp_epsilon is not None:
            dp = LocalDpSettings(epsilon=settings.dp_epsilon, delta=settings.dp_delta)
        self.flower_participant = FlowerParticipant(self._node, self) if flower_available() else None
        queries: dict[str, QueryHandler] = {ADOPT_ACTION: self._adopt_query}
        if self.flower_participant is not None:
            queries.update(self.flower_participant.queries())
        return Participant(
            peer_id=self._node.peer_id,
            rows=self.rows,
            available=lambda: self._available,
            on_round=self._record_participant_round,
            local_dp=dp,
            queries=queries,
            engines=self._engines(),
        )

    def _engines(self) -> tuple[str, ...]:
        from .flower import flower_available

        return ("p2p", "flower") if flower_available() else ("p2p",)

    async def _engine_ready(self) -> Coordinator:
        """Build the participant and the coordinator (Flower imported in a worker thread, off the loop)."""
        if self.coordinator is not None:
            return self.coordinator
        await trio.to_thread.run_sync(_import_engine)
        if self.coordinator is not None:  # built by another task meanwhile
            return self.coordinator
        from ._coordinator import Coordinator
        from .flower import FlowerCoordinator, flower_available

        node = self._node
        assert self.endpoint is not None and self._nursery is not None, "the service is not running"
        if self._participant is None:
            self._participant = self._build_participant()
        participant = self._participant
        if self.flower_participant is not None and not self._flower_running:
            self._flower_running = True
            await self._nursery.start(self.flower_participant.run)
        self.coordinator = Coordinator(
            peer_id=node.peer_id, endpoint=self.endpoint, participant=participant,
            store=node.store, candidates=self._training_peers, reputation=self._reputation_hook,
            evidence=node.record_evidence, starting_router=lambda: starting_router(node.router),
            runs_dir=node.config.data_dir / "training" / "runs",
            flower=FlowerCoordinator(node, self) if flower_available() else None,
            connected=self._connected,
        )
        return self.coordinator

    # ------------------------------------------------------------------ lifecycle
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve the training protocol until cancelled (the daemon's nursery owns this)."""
        node = self._node
        assert node.host is not None, "start the training service after the host"
        cap = node.config.training.max_frame_bytes
        verifier = Verifier(max_skew_s=node.config.limits.clock_skew_s, max_frame_bytes=cap)
        # its own replay cache: floors from the node's store, so replays fail across restarts too
        replay_floors = ReplayFloors(node.store, verifier, window_ms=verifier.max_skew_ms)
        replay_floors.restore()
        self.endpoint = StreamEndpoint(
            node.host, FL_PROTOCOL_ID, node.signer, verifier,
            max_frame_bytes=cap, read_timeout_s=node.config.limits.request_timeout_s,
            on_evidence=node.record_evidence,
        )
        self._token = trio.lowlevel.current_trio_token()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(replay_floors.run)
                if self._participant is not None:  # built before the service ran (a test's adversary)
                    await self._engine_ready()
                self.endpoint.serve(self._handle)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None

    # ------------------------------------------------------------------ availability
    @property
    def available(self) -> bool:
        """Whether this node takes part in training runs (its ad's ``training`` flag)."""
        return self._available

    @property
    def busy(self) -> bool:
        """Whether a training run involves this node now. Idle work that runs the model (idle
        learning, trust probes) waits meanwhile: on a few cores a round would otherwise queue
        behind generations, and the deployment engine starts a process per message."""
        if self.active is not None and not self.active.finished:
            return True
        if self.flower_participant is not None and self.flower_participant.busy:
            return True
        return self._participant is not None and self._participant.active()

    def set_available(self, value: bool) -> None:
        """Join or leave future runs; the ad is republished when this changes."""
        changed = value != self._available
        self._available = value
        gossip = self._node.gossip
        if changed and gossip is not None:
            gossip.request_publish()

    async def join(self, coordinator: str | None, *, timeout_s: float = 10.0) -> dict[str, object]:
        """Make this node available for training and connect it to ``coordinator``.

        ``coordinator`` is a full multiaddr ending in /p2p/ID (dialled), a peer ID
        already known from its ad (its advertised addresses are dialled), or None.
        Returns what happened, including whether the coordinator's ad is seen.
        """
        node = self._node
        self.set_available(True)
        result: dict[str, object] = {"available": True, "coordinator": None, "connected": False}
        if not coordinator:
            return result
        host = node.host
        assert host is not None
        if coordinator.startswith("/"):
            info = parse_peer_addr(coordinator)
            peer = info.peer_id.to_base58()
            await dial(host, info, timeout_s=timeout_s)
        else:
            peer = coordinator
            try:
                ID.from_base58(peer)
            except Exception as exc:
                raise TrainingError(f"{coordinator!r} is neither a multiaddr nor a peer ID") from exc
            entry = node.board.get(peer)
            if entry is None:
                raise TrainingError(
                    f"no fresh ad from {peer}: give its full multiaddr (/ip4/.../tcp/PORT/p2p/ID) instead"
                )
            if not entry.ad.addrs:
                raise TrainingError(f"the ad of {peer} lists no address; give its full multiaddr instead")
            await dial(host, parse_peer_addr(entry.ad.addrs[0]), timeout_s=timeout_s)
        result["coordinator"] = peer
        result["connected"] = True
        with trio.move_on_after(timeout_s):
            while node.board.get(peer) is None:  # noqa: ASYNC110 - the board has no per-peer event
                await trio.sleep(0.1)
        entry = node.board.get(peer)
        result["coordinator_ad"] = entry is not None
        result["coordinator_joins_training"] = bool(entry and entry.ad.training)
        return result

    # ------------------------------------------------------------------ runs
    def start(self, request: RunRequest) -> RunState:
        """Start a run in the background; RunInProgress while another one runs."""
        if self._nursery is None or self.endpoint is None:
            raise TrainingError("the training service is not running yet")
        if self.active is not None and not self.active.finished:
            raise RunInProgress(
                f"run {self.active.run_id} is still {self.active.state}; "
                "see `peermind train status`"
            )
        run_id = str(secrets.randbits(62) or 1)
        state = RunState(run_id=run_id, request=request, coordinator=self._node.peer_id)
        self.active = state
        self.runs[run_id] = state
        while len(self.runs) > KEEP_RUNS:
            self.runs.popitem(last=False)
        self._nursery.start_soon(self._coordinate, state)
        return state

    async def _coordinate(self, state: RunState) -> None:
        coordinator = await self._engine_ready()
        await coordinator.run(state)

    def get_run(self, run_id: str | None) -> RunState | None:
        """A run this node coordinated (kept in memory), the active one for None."""
        if run_id is None:
            return self.active
        return self.runs.get(run_id)

    def status(self) -> dict[str, object]:
        """Availability, the current run and the engines' state (``GET /peermind/train/status``)."""
        participant = self._participant  # status never builds the engine
        settings = self._node.config.training
        idle_dp = None if settings.dp_epsilon is None else {"epsilon": settings.dp_epsilon, "delta": settings.dp_delta}
        body: dict[str, object] = {
            "available": self._available,
            "engines": list(participant.engines if participant is not None else self._engines()),
            "runs_joined": sorted(participant.runs) if participant is not None else [],
            "local_dp": participant.info()["local_dp"] if participant is not None else idle_dp,
            "run": self.active.to_json(audit=False) if self.active is not None else None,
        }
        if self.flower_participant is not None:
            body["flower"] = self.flower_participant.status()
        return body

    def history(self, limit: int = 50) -> list[dict[str, object]]:
        """Recorded rounds of every role, newest first (``GET /peermind/train/history``)."""
        return [
            {
                "run_id": r.run_id, "round": r.round, "role": r.role,
                "participants": list(r.participants), "excluded": list(r.excluded),
                "metrics": r.metrics, "adopted": r.adopted, "created_at": r.created_at,
            }
            for r in self._node.store.rounds(limit)
        ]

    # ------------------------------------------------------------------ plumbing
    def rows(self) -> tuple[list[FeedbackRow], list[FeedbackRow]]:
        """This node's (train, validation) rows; called from the ClientApp's thread."""
        return load_rows(self._node.store, self._node.config.training.validation_fraction)

    def _training_peers(self) -> list[str]:
        return [e.peer_id for e in self._node.board.fresh() if e.ad.training]

    def _connected(self, peer: str) -> bool:
        """Whether a libp2p connection to ``peer`` is up (trio thread): a run asks a lost participant again."""
        host = self._node.host
        return host is not None and is_connected(host, ID.from_base58(peer))

    def _reputation_hook(self) -> Callable[[str], float]:
        """The trust module's scores: ``node.reputation(peer_id) -> [0, 1]``."""
        return self._node.reputation

    async def _handle(self, envelope: Envelope, peer: str) -> WireMessage | None:
        body = envelope.body
        if isinstance(body, TrainInvite | TrainMessage):
            problem = self._node.membership.refuse(peer, "fl")
            if problem is not None:  # outside the network (node/p2p/membership.py): a typed error reply
                return TrainReply(run_id=body.run_id, round=body.round, error=f"{problem.reason}: {problem}"[:1024])
        if isinstance(body, TrainInvite | TrainMessage):
            await self._engine_ready()
        if isinstance(body, TrainInvite):
            return await self.participant.on_invite(body, peer)
        if isinstance(body, TrainMessage):
            return await self.participant.on_message(body, peer)
        raise UnexpectedMessage(f"{type(body).__name__} is not served on {FL_PROTOCOL_ID}")

    def _record_participant_round(self, run_id: str, server_round: int, coordinator: str,
                                  metrics: dict[str, object]) -> None:
        self._node.store.record_round(
            run_id=run_id, round=server_round, role="participant",
            participants=[coordinator] if coordinator else [], metrics=metrics,
        )

    def _adopt_query(self, msg: Message, ctx: Context) -> Message:
        """``query.adopt``: validate the run's final router on our own rows (worker thread)."""
        from flwr.app import ConfigRecord, Message, RecordDict

        from ._adoption import decide, router_from_adopt

        model, info = router_from_adopt(msg)
        _, validation = self.rows()
        node = self._node
        decision = decide(current_router(node.router), model, validation, node.config.training.adopt_tolerance)
        run_id = str(ctx.run_id)
        source = f"federated:{run_id}"
        version = None
        if decision.adopted:
            version = trio.from_thread.run_sync(
                lambda: install_router(node.router, model, source, decision.to_json())
            )
        body = decision.to_json() | {"version": version}
        rounds = info.get("rounds", 0)
        node.store.record_round(
            run_id=run_id, round=int(rounds) if isinstance(rounds, int) else 0, role="adoption",
            participants=[str(info.get("coordinator", ""))], metrics=body, adopted=decision.adopted,
        )
        log.info("federated router %s", "adopted" if decision.adopted else "kept the current one",
                 extra={"run": run_id, "reason": decision.reason})
        trio.from_thread.run_sync(self.participant.leave, run_id)
        return Message(RecordDict({"decision": ConfigRecord({"json": json.dumps(body)})}), reply_to=msg)


def _import_engine() -> None:
    """Import Flower and the engine's modules (a worker thread: ~1 s of imports stays off the loop)."""
    import importlib

    for module in ("._participant", "._coordinator", "._adoption", ".flower"):
        importlib.import_module(module, __package__)
