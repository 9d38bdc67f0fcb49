"""The ServerApp and ClientApp that Flower's deployment engine loads (see _app_dir).

ServerApp (in ``flwr-serverapp``, started by the coordinator's SuperLink): the
same ``run_training`` as the p2p engine (ServerApp, strategy, round guard,
reports), over ``FlowerGridTransport`` instead of libp2p. Everything it needs
comes from the run config as file paths the coordinator wrote (initial
router, reputation snapshot, identities); it writes progress, the wire audit
and the result to ``output-dir`` for the coordinator's daemon to read.

ClientApp (in ``flwr-clientapp``, one per message, started by each node's
SuperNode): the node's usual ClientApp (``make_client_app``) over the rows its
node exported to ``node_config["data-path"]``, plus ``query.identity``.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from peermind.federated import (
    FederatedError,
    NotEnoughParticipants,
    RoundEvent,
    RouterModel,
    make_client_app,
    run_training,
)

from .._audit import describe_reply
from .._participant import LocalDpSettings, privacy_mod
from ._grid_transport import IDENTITY_ACTION, FlowerGridTransport, identity_reply
from ._rows_file import import_rows

log = logging.getLogger("peermind.node.training.flower")

PROGRESS_FILE = "progress.jsonl"
RESULT_FILE = "result.json"
FINAL_ROUTER_FILE = "final-router.npz"


class _Output:
    """Append-only JSON lines the coordinator's daemon tails while the run goes on."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / PROGRESS_FILE

    def write(self, kind: str, **body: object) -> None:
        """Append one progress line (``kind``, time, ``body``) for the coordinator to tail."""
        with self._path.open("a") as out:
            out.write(json.dumps({"kind": kind, "at": time.time(), **body}, default=_plain) + "\n")

    def round(self, event: RoundEvent) -> None:
        self.write("round", round=event.round, elapsed_s=event.elapsed_s, report=asdict(event.report))

    def audit(self, group_id: str, peer: str, payload: bytes) -> None:
        self.write("audit", round=int(group_id) if group_id.isdigit() else 0, peer=peer,
                   summary=describe_reply(payload))


def _plain(value: object) -> list[object] | str:
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


server_app = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    out = _Output(Path(str(cfg["output-dir"])))
    result: dict[str, object] = {"ok": False}
    try:
        reputation = json.loads(Path(str(cfg["reputation-file"])).read_text())
        identities_path = str(cfg["identities-file"])
        identities = ({int(k): v for k, v in json.loads(Path(identities_path).read_text()).items()}
                      if identities_path else None)
        transport = FlowerGridTransport(
            grid, expected=int(cfg["expected-nodes"]), wait_s=float(cfg["wait-nodes-s"]),  # type: ignore[arg-type]
            identities=identities, audit=out.audit,
        )
        out.write("nodes", peers=transport.peers())
        clip = float(cfg["client-clipping-norm"])  # type: ignore[arg-type]
        report = run_training(
            transport,
            rounds=int(cfg["num-server-rounds"]),  # type: ignore[arg-type]
            min_nodes=int(cfg["min-nodes"]),  # type: ignore[arg-type]
            strategy=str(cfg["strategy"]),
            round_timeout_s=float(cfg["round-timeout-s"]),  # type: ignore[arg-type]
            initial=RouterModel.load(str(cfg["initial-router"])),
            reputation=lambda peer: float(reputation.get(peer, 0.0)),
            progress=out.round,
            local_epochs=int(cfg["local-epochs"]),  # type: ignore[arg-type]
            lr=float(cfg["lr"]),  # type: ignore[arg-type]
            l2=float(cfg["l2"]),  # type: ignore[arg-type]
            client_clipping_norm=clip if clip > 0 else None,
            run_id=int(str(cfg["peermind-run-id"])),
        )
        report.model().save(out.directory / FINAL_ROUTER_FILE)
        result = {"ok": True, "report": report.to_dict()}
    except NotEnoughParticipants as exc:
        result = {"ok": False, "error": f"NotEnoughParticipants: {exc}"}
    except FederatedError as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # reported to the coordinator instead of a bare traceback
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
    finally:
        (out.directory / RESULT_FILE).write_text(json.dumps(result, default=_plain))


client_app = ClientApp()


def _node_app(context: Context) -> ClientApp:
    """The node's ClientApp over the rows its node exported for this run."""
    path = str(context.node_config["data-path"])
    epsilon = context.node_config.get("dp-epsilon")
    dp = None
    if isinstance(epsilon, int | float) and epsilon > 0:
        dp = LocalDpSettings(float(epsilon), float(context.node_config.get("dp-delta", 1e-5)))  # type: ignore[arg-type]
    rows = import_rows(path)
    return make_client_app(lambda: rows, train_mods=(privacy_mod(dp),))


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    reply: Message = _node_app(context)(msg, context)
    return reply


@client_app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    reply: Message = _node_app(context)(msg, context)
    return reply


@client_app.query(IDENTITY_ACTION)
def identity(msg: Message, context: Context) -> Message:
    return identity_reply(msg, str(context.node_config.get("peer-id", "")))
