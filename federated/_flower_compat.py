"""The only module that touches Flower internals (verified against flwr 1.42.*).

Flower builds instruction Messages from a process-global ``TaskIdentity``
that only its own runtimes (SuperLink, simulation) fill in; outside them,
``Message(...)`` raises ``TaskIdentity.run_id is not set``. We run Flower as a
library over our own transport, so this adapter:

* fills TaskIdentity with neutral values once (the grid then stamps the real
  run ID and message ID on every message it sends, so concurrent runs in one
  process do not depend on the global);
* writes ``Metadata``'s read-only ``message_id``/``run_id`` (as Flower's own
  InMemoryGrid does);
* (de)serialises Messages via ``flwr.common.serde``.

``check_flower_compat()`` exercises all of it; tests/federated keeps a test on
it so a Flower upgrade that breaks the workaround fails loudly.
"""

from __future__ import annotations

import logging
import threading

import flwr
from google.protobuf.message import DecodeError

from ._errors import FlowerIncompatible, MalformedMessage

try:
    from flwr.app import Message, RecordDict
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.common.serde import message_from_proto, message_to_proto
    from flwr.proto.message_pb2 import Message as ProtoMessage
    from flwr.supercore.task_identity import TaskIdentity
except ImportError as exc:  # pragma: no cover - only on an incompatible Flower
    raise FlowerIncompatible(
        f"flwr {getattr(flwr, '__version__', '?')} lacks an internal this adapter needs "
        f"({exc}); peermind pins flwr==1.42.*: reinstall it or update "
        "peermind/federated/_flower_compat.py"
    ) from exc

log = logging.getLogger(__name__)

PINNED_SERIES = "1.42."
SERVER_NODE_ID: int = SUPERLINK_NODE_ID
"""src_node_id of every instruction message (Flower's reserved id for the server side)."""

_identity_lock = threading.Lock()

if not flwr.__version__.startswith(PINNED_SERIES):  # pragma: no cover
    log.warning(
        "flwr %s is installed but peermind.federated was verified on %s*; "
        "run peermind.federated._flower_compat.check_flower_compat()",
        flwr.__version__,
        PINNED_SERIES,
    )


def ensure_instruction_identity() -> None:
    """Let ``Message(content, dst_node_id, message_type)`` work outside Flower's runtimes."""
    with _identity_lock:
        try:
            for name, value in (("run_id", 0), ("node_id", SERVER_NODE_ID), ("task_id", 0)):
                if getattr(TaskIdentity, f"_{name}") is None:
                    setattr(TaskIdentity, name, value)
        except AttributeError as exc:  # pragma: no cover
            raise FlowerIncompatible(
                f"flwr {flwr.__version__}: TaskIdentity changed shape ({exc}); "
                "update peermind/federated/_flower_compat.py"
            ) from exc


def stamp_instruction(message: Message, *, run_id: int, message_id: str) -> None:
    """Set the IDs a SuperLink would set on an outgoing instruction message."""
    fields = message.metadata.__dict__
    if "_message_id" not in fields or "_run_id" not in fields:  # pragma: no cover
        raise FlowerIncompatible(
            f"flwr {flwr.__version__}: Metadata no longer stores _message_id/_run_id; "
            "update peermind/federated/_flower_compat.py"
        )
    fields["_message_id"] = message_id
    fields["_run_id"] = run_id


def message_to_bytes(message: Message) -> bytes:
    """Serialise a Flower Message (metadata, content or error) to protobuf bytes."""
    return bytes(message_to_proto(message).SerializeToString())


def message_from_bytes(payload: bytes) -> Message:
    """Parse protobuf bytes into a Flower Message; MalformedMessage on garbage."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise MalformedMessage(f"expected bytes, got {type(payload).__name__}")
    proto = ProtoMessage()
    try:
        proto.ParseFromString(bytes(payload))
        if not proto.HasField("metadata"):
            raise MalformedMessage("the payload carries no Flower message metadata")
        return message_from_proto(proto)
    except MalformedMessage:
        raise
    except (DecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MalformedMessage(f"payload is not a valid Flower message: {exc}") from exc


def check_flower_compat() -> None:
    """Round-trip one instruction and one reply through this adapter.

    Raises FlowerIncompatible with the failing step when the installed Flower
    no longer behaves as this adapter assumes.
    """
    step = "version"
    try:
        if not flwr.__version__.startswith(PINNED_SERIES):
            raise RuntimeError(f"flwr {flwr.__version__} is not {PINNED_SERIES}*")
        step = "build an instruction Message outside Flower's runtimes"
        ensure_instruction_identity()
        msg = Message(RecordDict(), 42, "train")
        step = "stamp run_id/message_id"
        stamp_instruction(msg, run_id=7, message_id="m-1")
        step = "serialise and parse the instruction"
        back = message_from_bytes(message_to_bytes(msg))
        if (back.metadata.run_id, back.metadata.message_id) != (7, "m-1"):
            raise RuntimeError(f"metadata lost in transit: {back.metadata}")
        step = "reply to the parsed instruction"
        reply = message_from_bytes(message_to_bytes(Message(RecordDict(), reply_to=back)))
        if reply.metadata.reply_to_message_id != "m-1" or reply.metadata.src_node_id != 42:
            raise RuntimeError(f"reply metadata unexpected: {reply.metadata}")
    except FlowerIncompatible:
        raise
    except Exception as exc:
        raise FlowerIncompatible(
            f"flwr {flwr.__version__} broke peermind's Flower adapter at step '{step}': "
            f"{exc}. peermind pins flwr==1.42.*; update "
            "peermind/federated/_flower_compat.py for the new version"
        ) from exc
