"""The participant side: answer invitations and run the ClientApp on Flower messages.

Every node hosts one ClientApp (``make_client_app``) behind one
``FederatedClient`` with one persistent Context; its rows come from this
node's SQLite store at each message. Only the router's weights and aggregate
metrics go back (see ``make_client_app``). A Flower message is accepted only
inside a run this node accepted, and only from that run's coordinator (the
Noise-authenticated sender of the signed envelope), so no peer can make the
node train or adopt weights at will.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import trio
from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import LocalDpMod, fixedclipping_mod
from flwr.clientapp.typing import ClientAppCallable, Mod
from peermind.federated import (
    FederatedClient,
    FeedbackRow,
    LocalTraining,
    MalformedMessage,
    make_client_app,
)
from peermind.protocol import TrainInvite, TrainMessage, TrainReply

from .errors import TrainingRefused

log = logging.getLogger("peermind.node.training")

MAX_RUNS = 4
"""Runs a node takes part in at the same time (more invitations are refused as busy)."""
MEMBERSHIP_IDLE_S = 3600.0
"""A run without a message for this long is forgotten (its coordinator is gone)."""
ACTIVE_WINDOW_S = 120.0
"""A run whose coordinator wrote within this long is under way here (the node is not idle)."""

RowsSource = Callable[[], tuple[list[FeedbackRow], list[FeedbackRow]]]
QueryHandler = Callable[[Message, Context], Message]
RoundSink = Callable[[str, int, str, dict[str, object]], None]
"""(run_id, round, coordinator, metrics): told about each local training step."""


@dataclass(frozen=True, slots=True)
class LocalDpSettings:
    """Noise this node adds to its clipped update when a run asks for clipping."""

    epsilon: float
    delta: float

    def noise_std(self, clipping_norm: float) -> float:
        """Gaussian std of Flower's LocalDpMod with sensitivity = the clipping norm."""
        import math

        return clipping_norm * math.sqrt(2 * math.log(1.25 / self.delta)) / self.epsilon


@dataclass(slots=True)
class Membership:
    coordinator: str
    accepted_at: float
    last_seen: float


def privacy_mod(local_dp: LocalDpSettings | None) -> Mod:
    """Clip the update when the run asks for it; add local DP noise if this node wants it.

    Flower's fixedclipping_mod fails on messages without a clipping norm, so it
    is applied only when the server sent one; with ``local_dp`` the update is
    clipped to the server's norm and noised by LocalDpMod (sensitivity = norm).
    """

    def mod(msg: Message, ctx: Context, call_next: ClientAppCallable) -> Message:
        config = next(iter(msg.content.config_records.values()), None)
        if config is None or "clipping_norm" not in config:
            return call_next(msg, ctx)
        if local_dp is None:
            return fixedclipping_mod(msg, ctx, call_next)
        norm = float(config["clipping_norm"])  # type: ignore[arg-type]
        return LocalDpMod(norm, norm, local_dp.epsilon, local_dp.delta)(msg, ctx, call_next)

    return mod


class Participant:
    """This node's ClientApp, reachable over the training protocol."""

    def __init__(
        self,
        *,
        peer_id: str,
        rows: RowsSource,
        available: Callable[[], bool],
        on_round: RoundSink,
        local_dp: LocalDpSettings | None = None,
        queries: Mapping[str, QueryHandler] | None = None,
        engines: tuple[str, ...] = ("p2p",),
    ) -> None:
        self.peer_id = peer_id
        self._rows = rows
        self._available = available
        self._on_round = on_round
        self.local_dp = local_dp
        self.engines = engines
        self.runs: dict[str, Membership] = {}
        self._limiter = trio.CapacityLimiter(1)  # one ClientApp computation at a time
        app = make_client_app(
            rows,
            training=LocalTraining(),
            train_mods=(self._record_mod, privacy_mod(local_dp)),
        )
        for action, handler in (queries or {}).items():
            app.query(action)(handler)
        self.app: ClientApp = app
        self.client = FederatedClient.for_peer(app, peer_id)

    # --- membership -------------------------------------------------------------

    def coordinator_of(self, run_id: str) -> str | None:
        member = self.runs.get(run_id)
        return member.coordinator if member is not None else None

    def admit(self, run_id: str, coordinator: str) -> None:
        """Accept run ``run_id`` (raises TrainingRefused when unavailable or full)."""
        if not self._available():
            raise TrainingRefused(
                "training_disabled",
                "this node does not join training runs (started with --no-join-training; "
                "`peermind train join` turns it on)",
            )
        now = time.monotonic()
        for stale in [r for r, m in self.runs.items() if now - m.last_seen > MEMBERSHIP_IDLE_S]:
            del self.runs[stale]
        if run_id not in self.runs and len(self.runs) >= MAX_RUNS:
            raise TrainingRefused("busy", f"already in {len(self.runs)} training runs")
        self.runs[run_id] = Membership(coordinator, now, now)

    async def check_rows(self) -> None:
        """TrainingRefused("no_data") when this node has no labelled rows to train on."""
        try:
            train, _ = await trio.to_thread.run_sync(self._rows)
        except Exception as exc:  # an unreadable store is this node's problem, not the run's
            log.exception("cannot read feedback rows")
            raise TrainingRefused("no_data", f"cannot read this node's feedback rows: {exc}") from exc
        if not train:
            raise TrainingRefused("no_data", "this node has no labelled feedback rows to train on")

    def leave(self, run_id: str) -> None:
        self.runs.pop(run_id, None)

    def active(self, window_s: float = ACTIVE_WINDOW_S) -> bool:
        """Whether an accepted run's coordinator wrote within ``window_s`` (a run whose
        coordinator vanished stops counting long before it is forgotten)."""
        now = time.monotonic()
        return any(now - m.last_seen <= window_s for m in self.runs.values())

    def info(self) -> dict[str, object]:
        """What an accepted invitation tells the coordinator (no data, only settings)."""
        dp = None
        if self.local_dp is not None:
            dp = {"epsilon": self.local_dp.epsilon, "delta": self.local_dp.delta}
        return {"accepted": True, "engines": list(self.engines), "local_dp": dp}

    # --- protocol handlers (trio side) ----------------------------------------------

    async def on_invite(self, invite: TrainInvite, sender: str) -> TrainReply:
        if invite.coordinator != sender:
            refusal = TrainingRefused("bad_invite", "the invitation names another coordinator")
            return TrainReply(run_id=invite.run_id, round=invite.round, error=refusal.wire())
        try:
            self.admit(invite.run_id, sender)
            try:
                await self.check_rows()
            except TrainingRefused:
                self.leave(invite.run_id)
                raise
        except TrainingRefused as refusal:
            log.info("training invitation refused", extra={"peer": sender, "reason": refusal.reason})
            return TrainReply(run_id=invite.run_id, round=invite.round, error=refusal.wire())
        log.info("joined training run", extra={"peer": sender, "run": invite.run_id})
        payload = json.dumps(self.info()).encode()
        return TrainReply(run_id=invite.run_id, round=invite.round, payload=payload)

    async def on_message(self, message: TrainMessage, sender: str) -> TrainReply:
        member = self.runs.get(message.run_id)
        if member is None or member.coordinator != sender:
            refusal = TrainingRefused("unknown_run", f"no accepted run {message.run_id} from {sender}")
            return TrainReply(run_id=message.run_id, round=message.round, error=refusal.wire())
        if not self._available():
            refusal = TrainingRefused("training_disabled", "this node left training")
            return TrainReply(run_id=message.run_id, round=message.round, error=refusal.wire())
        member.last_seen = time.monotonic()
        try:
            reply = await self.handle(message.payload)
        except MalformedMessage as exc:
            return TrainReply(run_id=message.run_id, round=message.round, error=f"malformed: {exc}"[:1024])
        return TrainReply(run_id=message.run_id, round=message.round, payload=reply)

    async def handle(self, payload: bytes) -> bytes:
        """Run the ClientApp on one serialised instruction, off the trio loop."""
        return await trio.to_thread.run_sync(
            self.client.handle, payload, limiter=self._limiter, abandon_on_cancel=True
        )

    # --- Flower mods (worker thread) --------------------------------------------------

    def _record_mod(self, msg: Message, ctx: Context, call_next: ClientAppCallable) -> Message:
        """Record this node's view of each round it trained in (role ``participant``)."""
        reply = call_next(msg, ctx)
        if reply.has_error():
            return reply
        run_id = str(ctx.run_id)
        config = next(iter(msg.content.config_records.values()), None)
        value = config.get("server-round", 0) if config is not None else 0
        server_round = value if isinstance(value, int) else 0
        metrics: dict[str, object] = {}
        for record in reply.content.metric_records.values():
            metrics.update({k: v for k, v in record.items() if isinstance(v, int | float)})
        if config is not None and "clipping_norm" in config:
            metrics["clipping_norm"] = config["clipping_norm"]
            if self.local_dp is not None:
                metrics["dp_noise_std"] = self.local_dp.noise_std(float(config["clipping_norm"]))  # type: ignore[arg-type]
        try:
            self._on_round(run_id, server_round, self.coordinator_of(run_id) or "", metrics)
        except Exception:  # recording must never fail the training step
            log.exception("could not record a training round")
        return reply

