"""Runs the ClientApp for instructions arriving as bytes over the node's training protocol."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import ErrorCode

from ._errors import InvalidTrainingConfig, MalformedMessage
from ._flower_compat import message_from_bytes, message_to_bytes
from ._transport import node_id_for_peer

log = logging.getLogger(__name__)

ConfigValue = bool | int | float | str


class FederatedClient:
    """One node's Flower client: one persistent Context, one message at a time.

    ``handle`` never lets a ClientApp failure escape: it becomes a Flower
    error reply, which strategies count as a failed participant. Only bytes
    that are not a Flower instruction at all raise (MalformedMessage), since
    there is nothing to reply to.
    """

    def __init__(
        self,
        client_app: ClientApp,
        *,
        node_id: int,
        node_config: Mapping[str, ConfigValue] | None = None,
    ) -> None:
        if not isinstance(node_id, int) or node_id < 2:
            raise InvalidTrainingConfig(
                f"node_id must be an int >= 2 (0/1 are reserved), got {node_id!r}"
            )
        config = dict(node_config or {})
        for key, value in config.items():
            if not isinstance(key, str) or not isinstance(value, bool | int | float | str):
                raise InvalidTrainingConfig(
                    f"node_config[{key!r}] must be bool/int/float/str, got {value!r}"
                )
        self._app = client_app
        self._context = Context(
            run_id=0, node_id=node_id, node_config=config, state=RecordDict(), run_config={}
        )
        self._lock = threading.Lock()

    @classmethod
    def for_peer(
        cls,
        client_app: ClientApp,
        peer_id: str,
        node_config: Mapping[str, ConfigValue] | None = None,
    ) -> FederatedClient:
        """The client of the node whose own base58 peer ID is ``peer_id``."""
        return cls(client_app, node_id=node_id_for_peer(peer_id), node_config=node_config)

    @property
    def node_id(self) -> int:
        return int(self._context.node_id)

    @property
    def context(self) -> Context:
        return self._context

    def handle(self, payload: bytes) -> bytes:
        """Deserialize an instruction, run the ClientApp, serialize its reply."""
        msg = message_from_bytes(payload)
        meta = msg.metadata
        if msg.has_error() or not msg.has_content() or meta.reply_to_message_id:
            raise MalformedMessage("expected a Flower instruction message, got a reply or error")
        if meta.dst_node_id != self.node_id:
            return self._reply(
                msg, f"instruction addressed to node {meta.dst_node_id}, this is {self.node_id}"
            )
        with self._lock:
            self._context.run_id = meta.run_id
            try:
                reply = self._app(msg, self._context)
            except Exception as exc:  # the ClientApp's bug must not crash the node
                log.exception("ClientApp failed on a %s instruction", meta.message_type)
                return self._reply(msg, f"ClientApp raised {type(exc).__name__}: {exc}")
        if not isinstance(reply, Message):
            return self._reply(msg, f"ClientApp returned {type(reply).__name__}, not a Message")
        return message_to_bytes(reply)

    @staticmethod
    def _reply(msg: Message, reason: str) -> bytes:
        error = Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason)
        return message_to_bytes(Message(error, reply_to=msg))
