"""Federated training on ``/peermind/fl/1.0.0``: invitations and Flower traffic.

The coordinator invites peers to a round; Flower messages then travel as
opaque serialized payloads (``TrainMessage`` out, ``TrainReply`` back), so
this package never depends on Flower itself. Payloads can reach 8 MiB:
open these streams with a larger ``max_frame_bytes`` than the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from ._fields import MIB, EpochMs, Label, PeerText
from ._schema import Limits, Message

MAX_TRAIN_PAYLOAD = 8 * MIB

RunId = Annotated[str, Limits(min_len=1, max_len=128)]
Round = Annotated[int, Limits(ge=0, le=1_000_000)]
Payload = Annotated[bytes, Limits(max_len=MAX_TRAIN_PAYLOAD)]


@dataclass(frozen=True, kw_only=True)
class TrainInvite(Message):
    """Invitation to join round ``round`` of run ``run_id``."""

    TYPE: ClassVar[str] = "train.invite"

    run_id: RunId
    round: Round
    coordinator: PeerText
    deadline_ms: EpochMs
    strategy: Label = ""


@dataclass(frozen=True, kw_only=True)
class TrainMessage(Message):
    """A serialized Flower message from the coordinator."""

    TYPE: ClassVar[str] = "train.message"

    run_id: RunId
    round: Round
    payload: Payload


@dataclass(frozen=True, kw_only=True)
class TrainReply(Message):
    """A participant's serialized Flower reply (or an error)."""

    TYPE: ClassVar[str] = "train.reply"

    run_id: RunId
    round: Round
    payload: Payload = b""
    error: Annotated[str, Limits(max_len=1024)] = ""
