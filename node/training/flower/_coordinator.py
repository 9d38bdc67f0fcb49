"""The coordinator side of the deployment engine: SuperLink, SuperNodes, ``flwr run``.

For engine ``flower`` the training phase of a run (after the signed
invitations, before the signed adoption push) goes through Flower's own
processes, so standard Flower tooling (``flwr ls``, ``flwr log``) sees it:

1. start a supervised ``flower-superlink`` (``--database`` so a restart keeps
   state; ``--insecure`` only on loopback, else TLS + SuperNode auth);
2. ask every participant to export its rows and, for TLS, make a key
   (``query.flower_prepare``); register the returned public keys;
3. ask every participant to start its SuperNode (``query.flower_start``);
4. write the app directory, ``$FLWR_HOME/config.toml`` and the run config,
   and run ``flwr run APP_DIR peermind --stream --run-config FILE``; the
   ServerApp writes progress lines that are turned into the usual round
   events while it runs;
5. always: tell the participants to stop their SuperNodes, stop the SuperLink.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from flwr.app import ConfigRecord, Message, RecordDict
from peermind.federated import RoundEvent, RoundReport, RouterModel, TrainingReport

from ...p2p.host import full_addrs
from ..errors import FlowerEngineError, TooFewParticipants
from ._app_dir import CONNECTION, write_app_dir, write_connection, write_run_config
from ._apps import FINAL_ROUTER_FILE, PROGRESS_FILE, RESULT_FILE
from ._env import executable, flower_env, free_port, ip4_of, is_loopback
from ._participant import LEAVE, PREPARE, REPLY_KEY, START
from ._supervisor import Supervised
from ._tls import make_server_tls

if TYPE_CHECKING:
    from .._run_state import RunState
    from .._service import TrainingService
    from ..ports import TrainingNode

log = logging.getLogger("peermind.node.training.flower")

SETUP_TIMEOUT_S = 90.0
WAIT_NODES_S = 60.0
TAIL_POLL_S = 0.3


class FlowerCoordinator:
    def __init__(self, node: TrainingNode, service: TrainingService) -> None:
        self._node = node
        self._service = service

    # ------------------------------------------------------------------ entry point
    async def train(
        self, state: RunState, initial: RouterModel, participants: list[str],
        reputation: Callable[[str], float], on_round: Callable[[RoundEvent], None],
    ) -> TrainingReport | None:
        req = state.request
        run_dir = self._node.config.data_dir / "training" / "flower" / f"run-{state.run_id}" / "coordinator"
        run_dir.mkdir(parents=True, exist_ok=True)
        host, secure = self._superlink_host(participants, req.flower_tls)
        port = free_port(host)
        address = f"{host}:{port}"
        flwr_home = run_dir / "flwr-home"
        env = flower_env(flwr_home)
        argv = [str(executable("flower-superlink")), "--host", host, "--port", str(port),
                "--database", str(run_dir / "superlink.db"), "--disable-runtime-dependency-installation"]
        ca_pem: Path | None = None
        if secure:
            ca_pem, cert, key = make_server_tls(run_dir / "tls", host)
            argv += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
                     "--ssl-ca-certfile", str(ca_pem), "--enable-supernode-auth"]
        else:
            argv.append("--insecure")
        superlink = Supervised("flower-superlink", argv, env=env, log_path=run_dir / "superlink.log",
                               ready_port=(host, port))
        state.engine_info = {"name": "flower", "superlink": address, "tls": secure,
                             "supernode_auth": secure, "run_dir": str(run_dir)}
        write_connection(flwr_home, address, root_cert=ca_pem)
        started: list[str] = list(participants)
        async with trio.open_nursery() as nursery:
            await nursery.start(superlink.run)
            state.engine_info["superlink_started_s"] = round(time.time() - state.started_at, 2)
            try:
                return await self._train(state, initial, participants, reputation, on_round,
                                         run_dir=run_dir, env=env, address=address,
                                         ca_pem=ca_pem, started=started, superlink=superlink)
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(30):
                    await self._service_query(state, started, LEAVE, {}, timeout_s=20)
                    state.engine_info["superlink_rss_mb"] = superlink.rss_mb()
                    await superlink.stop()
                nursery.cancel_scope.cancel()

    # ------------------------------------------------------------------ steps
    async def _train(
        self, state: RunState, initial: RouterModel, participants: list[str],
        reputation: Callable[[str], float], on_round: Callable[[RoundEvent], None], *,
        run_dir: Path, env: dict[str, str], address: str, ca_pem: Path | None,
        started: list[str], superlink: Supervised,
    ) -> TrainingReport | None:
        req = state.request
        secure = ca_pem is not None
        prepared = await self._service_query(state, participants, PREPARE, {"secure": secure},
                                             timeout_s=SETUP_TIMEOUT_S)
        identities: dict[int, str] = {}
        if secure:
            identities = await self._register(state, prepared, run_dir, env)
        ready = [p for p in participants if p in prepared and (not secure or p in identities.values())]
        deadline = time.time() + SETUP_TIMEOUT_S + req.rounds * 2 * req.round_timeout_s + WAIT_NODES_S
        root_cert = await trio.to_thread.run_sync(ca_pem.read_bytes) if ca_pem else b""
        start_body: dict[str, Any] = {"superlink": address, "deadline": deadline, "root-cert": root_cert}
        replies = await self._service_query(state, ready, START, start_body, timeout_s=SETUP_TIMEOUT_S)
        started[:] = [p for p in ready if p in replies]
        state.engine_info["supernodes"] = len(started)
        if len(started) < req.min_nodes:
            raise TooFewParticipants(
                f"only {len(started)} SuperNode(s) started, min_nodes is {req.min_nodes}: "
                f"{json.dumps(state.engine_info.get('dropped', {}))}"
            )
        out_dir = run_dir / "out"
        out_dir.mkdir(exist_ok=True)
        (out_dir / PROGRESS_FILE).unlink(missing_ok=True)
        initial_path = run_dir / "initial-router.npz"
        initial.save(initial_path)
        reputation_path = run_dir / "reputation.json"
        reputation_path.write_text(json.dumps({p: reputation(p) for p in started}))
        identities_path = run_dir / "identities.json"
        if identities:
            identities_path.write_text(json.dumps({str(k): v for k, v in identities.items()}))
        config = write_run_config(run_dir / "run-config.toml", {
            "num-server-rounds": req.rounds, "min-nodes": req.min_nodes, "strategy": req.strategy,
            "round-timeout-s": float(req.round_timeout_s), "local-epochs": req.local_epochs,
            "lr": float(req.lr), "client-clipping-norm": float(req.clip_norm or 0.0),
            "peermind-run-id": state.run_id, "output-dir": str(out_dir),
            "initial-router": str(initial_path), "reputation-file": str(reputation_path),
            "identities-file": str(identities_path) if identities else "",
            "expected-nodes": len(started), "wait-nodes-s": WAIT_NODES_S,
        })
        app_dir = write_app_dir(run_dir / "app")
        argv = [str(executable("flwr")), "run", str(app_dir), CONNECTION, "--stream",
                "--run-config", str(config)]
        rounds: list[RoundReport] = []
        budget = WAIT_NODES_S + req.rounds * 2 * req.round_timeout_s + 120
        t0 = time.monotonic()
        async with trio.open_nursery() as nursery:
            done = trio.Event()
            nursery.start_soon(self._tail, out_dir / PROGRESS_FILE, state, on_round, rounds, done)
            code = await self._flwr_run(argv, env, run_dir / "flwr-run.log", budget)
            done.set()
        state.engine_info["flwr_run_s"] = round(time.monotonic() - t0, 2)
        state.engine_info["flwr_run_exit"] = code
        log_text = await trio.to_thread.run_sync(lambda: (run_dir / "flwr-run.log").read_text(errors="replace"))
        found = re.search(r"Successfully started run (\d+)", log_text)
        state.engine_info["flower_run_id"] = found.group(1) if found else None
        try:
            result = json.loads((out_dir / RESULT_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise FlowerEngineError(
                f"`flwr run` ended ({code}) without a result ({exc}); see {run_dir / 'flwr-run.log'} "
                f"and {run_dir / 'superlink.log'}"
            ) from exc
        if not result.get("ok"):
            state.finish("failed", str(result.get("error", "the ServerApp failed")))
            return None
        final = RouterModel.load(out_dir / FINAL_ROUTER_FILE, initial.schema)
        report = result["report"]
        return TrainingReport(strategy=req.strategy, schema=initial.schema, rounds=rounds,
                              final_arrays=final.to_arrays(), duration_s=float(report["duration_s"]),
                              run_id=int(state.run_id))

    def _superlink_host(self, participants: list[str], tls: bool | None) -> tuple[str, bool]:
        """Loopback when every participant is on this machine's loopback; else our first routable IP."""
        board = self._node.board
        hosts: list[str] = []
        for peer in participants:
            entry = board.get(peer)
            if entry is not None:
                hosts += ip4_of(list(entry.ad.addrs))
        local = all(is_loopback(h) for h in hosts)
        if local:
            return "127.0.0.1", bool(tls)
        host = self._node.host
        own = [h for h in ip4_of(full_addrs(host) if host is not None else []) if not is_loopback(h)]
        if not own:
            raise FlowerEngineError("participants are off this machine but this node has no routable IPv4 address")
        if tls is False:
            raise FlowerEngineError("a SuperLink reachable beyond loopback must use TLS (flower_tls cannot be false)")
        return own[0], True

    async def _service_query(self, state: RunState, peers: list[str], action: str,
                             values: dict[str, Any], *, timeout_s: float) -> dict[str, Message]:
        coordinator = self._service.coordinator
        assert coordinator is not None
        replies = await coordinator.query(
            state, peers, f"query.{action}",
            lambda _peer: RecordDict({REPLY_KEY: ConfigRecord(values)}), timeout_s=timeout_s,
        )
        good: dict[str, Message] = {}
        dropped = state.engine_info.setdefault("dropped", {})
        for peer, reply in replies.items():
            if peer not in peers:
                continue
            if isinstance(reply, str):
                dropped[peer] = f"{action}: {reply}"
            elif reply.has_error():
                dropped[peer] = f"{action}: {(reply.error.reason or 'error reply')[:300]}"
            else:
                good[peer] = reply
        return good

    async def _register(self, state: RunState, prepared: dict[str, Message], run_dir: Path,
                        env: dict[str, str]) -> dict[int, str]:
        """Register each participant's SuperNode key with the SuperLink; node_id -> peer ID."""
        keys_dir = run_dir / "supernode-keys"
        keys_dir.mkdir(exist_ok=True)
        identities: dict[int, str] = {}
        dropped = state.engine_info.setdefault("dropped", {})

        async def register(peer: str, reply: Message) -> None:
            public = reply.content.config_records[REPLY_KEY].get("public-key", b"")
            if not isinstance(public, bytes) or not public:
                dropped[peer] = "prepare: no SuperNode public key"
                return
            path = keys_dir / f"{peer}.pub"
            path.write_bytes(public)
            argv = [str(executable("flwr")), "supernode", "register", str(path), CONNECTION,
                    "--name", peer, "--format", "json"]
            done = await trio.run_process(argv, env=env, capture_stdout=True, capture_stderr=True, check=False)
            try:
                body = json.loads(done.stdout.decode(errors="replace"))
            except ValueError:
                body = {}
            node_id = body.get("node-id") or body.get("node_id")
            if not body.get("success") or node_id is None:
                dropped[peer] = f"register: {body.get('error-message') or done.stderr.decode(errors='replace')[-300:]}"
                return
            identities[int(node_id)] = peer

        async with trio.open_nursery() as nursery:
            for peer, reply in prepared.items():
                nursery.start_soon(register, peer, reply)
        return identities

    async def _flwr_run(self, argv: list[str], env: dict[str, str], log_path: Path, budget_s: float) -> int:
        out = await trio.to_thread.run_sync(log_path.open, "ab")
        try:
            with trio.move_on_after(budget_s) as scope:
                done = await trio.run_process(argv, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        finally:
            out.close()
        if scope.cancelled_caught:
            raise FlowerEngineError(f"`flwr run` took over {budget_s:.0f} s; see {log_path}")
        return int(done.returncode)

    async def _tail(self, path: Path, state: RunState, on_round: Callable[[RoundEvent], None],
                    rounds: list[RoundReport], done: trio.Event) -> None:
        """Turn the ServerApp's progress lines into round events while ``flwr run`` runs."""
        offset = 0
        while True:
            finished = done.is_set()
            try:
                data = await trio.to_thread.run_sync(path.read_bytes)
            except FileNotFoundError:
                data = b""
            end = data.rfind(b"\n") + 1
            for line in data[offset:end].splitlines():
                await self._consume(json.loads(line), state, on_round, rounds)
            offset = max(offset, end)
            if finished:
                return
            with trio.move_on_after(TAIL_POLL_S):
                await done.wait()

    async def _consume(self, item: dict[str, Any], state: RunState,
                       on_round: Callable[[RoundEvent], None], rounds: list[RoundReport]) -> None:
        kind = item.get("kind")
        if kind == "nodes":
            state.engine_info["flower_peers"] = item.get("peers", [])
        elif kind == "audit":
            state.audit.add(int(item.get("round", 0)), str(item.get("peer", "")), dict(item.get("summary", {})))
        elif kind == "round":
            body = item["report"]
            report = RoundReport(
                round=int(body["round"]), asked=tuple(body["asked"]),
                participants=tuple(body["participants"]), failed=dict(body["failed"]),
                excluded=dict(body["excluded"]), clipped=dict(body["clipped"]),
                train_metrics=dict(body["train_metrics"]), validation=dict(body["validation"]),
                notes=tuple(body["notes"]), duration_s=float(body["duration_s"]),
            )
            rounds.append(report)
            event = RoundEvent(report.round, state.request.rounds, report, float(item.get("elapsed_s", 0.0)))
            await trio.to_thread.run_sync(on_round, event)
