"""The participant side of the deployment engine: this node's own supervised SuperNode.

The coordinator drives it with signed Flower queries over the training
protocol (so only the run's coordinator can, see Participant):

* ``query.flower_prepare``: export this node's rows to a private file and,
  for a TLS run, make the SuperNode's key pair; the reply carries only the
  public key (the coordinator registers it with its SuperLink);
* ``query.flower_start``: start ``flower-supernode`` (supervised, restarted if
  it dies) pointed at the coordinator's SuperLink, with
  ``--node-config 'data-path=... peer-id=...'``; ``--insecure`` only when the
  SuperLink is on loopback, else ``--root-certificates`` + the auth key;
* ``query.flower_leave``: stop the SuperNode and delete the exported rows.

A SuperNode also stops at the run's deadline if the coordinator vanished.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from flwr.app import ConfigRecord, Context, Message, RecordDict

from ..errors import FlowerEngineError, TrainingError
from ._app_dir import node_config_arg
from ._env import executable, flower_env, free_port, is_loopback
from ._rows_file import export_rows
from ._supervisor import Supervised
from ._tls import make_supernode_keys

if TYPE_CHECKING:
    from .._participant import QueryHandler
    from .._service import TrainingService
    from ..ports import TrainingNode

log = logging.getLogger("peermind.node.training.flower")

PREPARE, START, LEAVE = "flower_prepare", "flower_start", "flower_leave"
REPLY_KEY = "flower"


@dataclass
class _NodeRun:
    run_id: str
    directory: Path
    rows_path: Path
    key_path: Path | None = None
    supernode: Supervised | None = None
    deadline: float = 0.0
    cancel: trio.CancelScope = field(default_factory=trio.CancelScope)


def _config(msg: Message) -> ConfigRecord:
    record = msg.content.config_records.get(REPLY_KEY)
    if record is None:
        raise TrainingError(f"{msg.metadata.message_type} without a '{REPLY_KEY}' config record")
    return record


def _reply(msg: Message, **values: Any) -> Message:
    return Message(RecordDict({REPLY_KEY: ConfigRecord(values)}), reply_to=msg)


class FlowerParticipant:
    def __init__(self, node: TrainingNode, service: TrainingService) -> None:
        self._node = node
        self._service = service
        self._runs: dict[str, _NodeRun] = {}
        self._nursery: trio.Nursery | None = None

    def queries(self) -> dict[str, QueryHandler]:
        return {PREPARE: self._prepare, START: self._start, LEAVE: self._leave}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    @property
    def busy(self) -> bool:
        """Whether a SuperNode of a run is up here (between a run's start and leave queries)."""
        return bool(self._runs)

    def status(self) -> dict[str, object]:
        return {
            run_id: {
                "supernode_alive": bool(r.supernode and r.supernode.alive),
                "restarts": r.supernode.restarts_done if r.supernode else 0,
                "failed": r.supernode.failed if r.supernode else "",
                "rss_mb": r.supernode.rss_mb() if r.supernode else 0.0,
            }
            for run_id, r in self._runs.items()
        }

    # ------------------------------------------------------------------ queries (worker thread)
    def _prepare(self, msg: Message, ctx: Context) -> Message:
        run_id = str(ctx.run_id)
        secure = bool(_config(msg).get("secure", False))
        directory = self._node.config.data_dir / "training" / "flower" / f"run-{run_id}" / "node"
        if " " in str(directory):
            raise FlowerEngineError(f"the data directory {directory} contains a space; "
                                    "Flower's --node-config cannot carry it")
        train, validation = self._service.rows()
        rows_path = directory / "rows.npz"
        export_rows(rows_path, train, validation)
        entry = _NodeRun(run_id, directory, rows_path)
        public = b""
        if secure:
            entry.key_path, public = make_supernode_keys(directory)
        self._runs[run_id] = entry
        return _reply(msg, **{"public-key": public})

    def _start(self, msg: Message, ctx: Context) -> Message:
        run_id = str(ctx.run_id)
        entry = self._runs.get(run_id)
        if entry is None:
            raise TrainingError(f"{START} before {PREPARE} for run {run_id}")
        config = _config(msg)
        superlink = str(config["superlink"])
        root_cert = config.get("root-cert", b"")
        entry.deadline = float(config.get("deadline", time.time() + 3600))  # type: ignore[arg-type]
        host = superlink.rsplit(":", 1)[0]
        port = free_port()
        node_config: dict[str, str | int | float | bool] = {
            "data-path": str(entry.rows_path), "peer-id": self._node.peer_id,
        }
        settings = self._node.config.training
        if settings.dp_epsilon is not None:
            node_config.update({"dp-epsilon": settings.dp_epsilon, "dp-delta": settings.dp_delta})
        argv = [str(executable("flower-supernode")), "--superlink", superlink, "--port", str(port),
                "--node-config", node_config_arg(node_config)]
        if isinstance(root_cert, bytes) and root_cert:
            ca = entry.directory / "ca.pem"
            ca.write_bytes(root_cert)
            assert entry.key_path is not None, "a TLS run needs prepare(secure=true)"
            argv += ["--root-certificates", str(ca), "--auth-supernode-private-key", str(entry.key_path)]
        elif is_loopback(host):
            argv.append("--insecure")
        else:
            raise FlowerEngineError(f"refusing an unencrypted SuperLink off loopback ({superlink})")
        env = flower_env(entry.directory / "flwr-home")
        entry.supernode = Supervised(f"flower-supernode[{run_id}]", argv, env=env,
                                     log_path=entry.directory / "supernode.log",
                                     ready_port=("127.0.0.1", port))
        trio.from_thread.run(self._launch, entry)
        return _reply(msg, started=True, port=port)

    def _leave(self, msg: Message, ctx: Context) -> Message:
        run_id = str(ctx.run_id)
        trio.from_thread.run(self._stop, run_id)
        return _reply(msg, stopped=True)

    # ------------------------------------------------------------------ trio side
    async def _launch(self, entry: _NodeRun) -> None:
        if self._nursery is None or entry.supernode is None:
            raise FlowerEngineError("the node is shutting down")
        supernode = entry.supernode

        async def supervise(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            with entry.cancel:
                entry.cancel.deadline = trio.current_time() + max(1.0, entry.deadline - time.time())
                async with trio.open_nursery() as inner:
                    await inner.start(supernode.run)
                    task_status.started()
            if supernode.alive:  # deadline passed: the coordinator never said goodbye
                log.warning("stopping the SuperNode of run %s at its deadline", entry.run_id)

        await self._nursery.start(supervise)

    async def _stop(self, run_id: str) -> None:
        entry = self._runs.pop(run_id, None)
        if entry is None:
            return
        if entry.supernode is not None:
            await entry.supernode.stop()
        entry.cancel.cancel()
        for secret in (entry.rows_path, entry.key_path):  # the log stays for the operator
            if secret is not None:
                await trio.to_thread.run_sync(partial(secret.unlink, missing_ok=True))
