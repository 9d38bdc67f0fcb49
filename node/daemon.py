"""The node daemon: one trio nursery tree that runs the host, gossip, tasks and API.

Start-up order matters for users: load the model and measure it first (the slow part,
with progress in the log), then listen, then publish the ad, then open the API and
write ``node.json`` so scripts (and the testnet) know the node is ready and where.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from peermind.protocol import CapabilityAd, ModelInfo, Signer, TaskRefusal, Verifier

from .collab.answer import Answer
from .collab.candidates import Candidate
from .collab.constraints import NO_CONSTRAINTS, Constraints
from .collab.policy import Collaborator, Job
from .config import NodeConfig
from .errors import NodeError
from .identity import NodeIdentity
from .llm import LlamaBackend, Measurement
from .metrics import NodeMetrics
from .p2p.ads import AdBoard, AdGossip, ads_topic
from .p2p.host import PeerUnreachable, dial, full_addrs, parse_peer_addr, running_host
from .p2p.streams import StreamEndpoint
from .p2p.tasks import TASK_PROTOCOL, ServedTask, TaskLimits, TaskService
from .store import Store

log = logging.getLogger("peermind.node")

STATE_FILE = "node.json"
BOOTSTRAP_RETRY_S = 5.0


@dataclass(frozen=True)
class NodeState:
    """What ``node.json`` tells other programs about a running node."""

    peer_id: str
    pid: int
    network: str
    api_url: str
    addrs: list[str]
    model: str
    started_at: float

    def write(self, data_dir: Path) -> None:
        path = data_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2))
        os.replace(tmp, path)

    @classmethod
    def read(cls, data_dir: Path) -> NodeState:
        path = data_dir / STATE_FILE
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise NodeError(f"no running node found: {path} does not exist") from exc
        except (ValueError, TypeError) as exc:
            raise NodeError(f"{path} is not a node state file: {exc}") from exc


class Node:
    """A running peer. Build with ``Node(config, identity, store, backend)``; ``await run()``."""

    def __init__(self, config: NodeConfig, identity: NodeIdentity, store: Store, backend: LlamaBackend) -> None:
        self.config = config
        self.identity = identity
        self.store = store
        self.backend = backend
        self.peer_id = identity.peer_id_b58
        self.metrics = NodeMetrics()
        self.board = AdBoard()
        self.signer = Signer(identity.private_key)
        self.verifier = Verifier(
            max_skew_s=config.limits.clock_skew_s,
            max_frame_bytes=config.limits.max_frame_bytes,
        )
        self.tasks = TaskService(
            backend,
            TaskLimits(config.limits.max_prompt_chars, config.limits.max_tokens),
            on_served=self._on_served,
            gate=self._gate,
        )
        self.collaborator = Collaborator(
            candidates=self.candidates,
            execute_local=self.tasks.execute,
            request_remote=self._request_remote,
            on_evidence=self.record_evidence,
        )
        self.host: IHost | None = None
        self.gossip: AdGossip | None = None
        self.api_url = ""
        self.started_at = time.time()
        self.measurement: Measurement | None = backend.measurement
        self._accepting = True
        self._in_flight = 0
        self._ad_seq = int(time.time() * 1000)
        self._stop = trio.Event()
        self.ready = trio.Event()

    # ----------------------------------------------------------------- lifecycle
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        from .api.server import serve_api  # the API imports the daemon's types

        if self.measurement is None:
            log.info("measuring the local model", extra={"model": self.backend.profile.name})
            self.measurement = await self.backend.measure()
        key_pair = self.identity.libp2p_key_pair()
        async with running_host(key_pair, self.config.listen) as host:
            self.host = host
            endpoint = StreamEndpoint(
                host,
                TASK_PROTOCOL,
                self.signer,
                self.verifier,
                max_frame_bytes=self.config.limits.max_frame_bytes,
                read_timeout_s=self.config.limits.request_timeout_s,
                on_evidence=self.record_evidence,
            )
            self.tasks.attach(endpoint)
            self.gossip = AdGossip(
                host,
                self.signer,
                self.verifier,
                self.board,
                self.config.network,
                self.make_ad,
                republish_s=self.config.ads.republish_s,
                on_evidence=self.record_evidence,
            )
            async with trio.open_nursery() as nursery:
                await nursery.start(self.gossip.run)
                nursery.start_soon(self._bootstrap_loop)
                nursery.start_soon(self._load_watch)
                self.api_url = await nursery.start(serve_api, self)
                state = NodeState(
                    peer_id=self.peer_id,
                    pid=os.getpid(),
                    network=self.config.network,
                    api_url=self.api_url,
                    addrs=full_addrs(host),
                    model=self.backend.profile.name,
                    started_at=self.started_at,
                )
                state.write(self.config.data_dir)
                log.info(
                    "node ready",
                    extra={"peer": self.peer_id, "api": self.api_url, "addrs": ",".join(state.addrs)},
                )
                self.ready.set()
                task_status.started()
                await self._stop.wait()
                await self._drain()
                nursery.cancel_scope.cancel()
        (self.config.data_dir / STATE_FILE).unlink(missing_ok=True)

    def stop(self) -> None:
        """Begin a graceful shutdown: refuse new tasks, let running ones finish (up to the grace period)."""
        self._accepting = False
        self._stop.set()

    async def _drain(self) -> None:
        with trio.move_on_after(self.config.limits.shutdown_grace_s):
            while self._in_flight:  # noqa: ASYNC110 - counts change in many places; polling keeps them simple
                await trio.sleep(0.05)
        if self._in_flight:
            log.warning("shutdown grace period over with tasks in flight", extra={"in_flight": self._in_flight})

    # ----------------------------------------------------------------- discovery
    async def _bootstrap_loop(self) -> None:
        assert self.host is not None
        infos = [parse_peer_addr(a) for a in self.config.bootstrap]
        while infos:
            for info in infos:
                try:
                    await dial(self.host, info)
                except PeerUnreachable as exc:
                    log.info("bootstrap peer unreachable, will retry", extra={"error": str(exc)})
            await trio.sleep(BOOTSTRAP_RETRY_S)

    async def _load_watch(self) -> None:
        """Republish the ad when queue depth changes, so routers see real load."""
        last = self.backend.queue_depth
        while True:
            await trio.sleep(0.5)
            depth = self.backend.queue_depth
            self.metrics.queue_depth.set(depth)
            self.metrics.peers_fresh.set(len(self.board.fresh()))
            if self.gossip is not None:
                self.metrics.ads_published.set(self.gossip.ads_published)
            if depth != last and self.gossip is not None:
                self.gossip.request_publish()
            last = depth

    # ----------------------------------------------------------------- ads
    async def make_ad(self) -> CapabilityAd:
        assert self.host is not None and self.measurement is not None
        m = self.measurement
        profile = self.backend.profile
        self._ad_seq += 1
        return CapabilityAd(
            network=self.config.network,
            addrs=full_addrs(self.host),
            models=[
                ModelInfo(
                    name=profile.name,
                    family=profile.family,
                    params_m=profile.params_m,
                    quant=profile.quant,
                    n_ctx=self.backend.n_ctx,
                    size_mb=m.model_size_mb,
                    prompt_tps=m.prompt_tps,
                    gen_tps=m.gen_tps,
                    chat=profile.chat,
                )
            ],
            queue_depth=self.backend.queue_depth,
            max_queue=self.backend.max_queue,
            max_concurrency=self.config.llm.max_concurrency,
            load=self.backend.load,
            cost_per_1k=self.cost_per_1k,
            tags=list(self.config.ads.tags),
            skills=list(self.config.ads.skills),
            ttl_s=self.config.ads.ttl_s,
            seq=self._ad_seq,
            training=self.config.join_training,
            ram_mb=int(psutil.virtual_memory().available / 2**20),
        )

    @property
    def cost_per_1k(self) -> float:
        configured = self.config.ads.cost_per_1k
        return configured if configured is not None else self.backend.profile.default_cost_per_1k

    def local_candidate(self) -> Candidate:
        m = self.measurement
        profile = self.backend.profile
        return Candidate(
            peer_id=self.peer_id,
            is_local=True,
            model=profile.name,
            family=profile.family,
            params_m=profile.params_m,
            gen_tps=max(m.gen_tps if m else 1.0, 1e-3),
            prompt_tps=max(m.prompt_tps if m else 1.0, 1e-3),
            queue_depth=self.backend.queue_depth,
            max_queue=self.backend.max_queue,
            max_concurrency=self.config.llm.max_concurrency,
            cost_per_1k=self.cost_per_1k,
            tags=tuple(self.config.ads.tags),
        )

    def candidates(self) -> list[Candidate]:
        peers = [Candidate.from_ad(e.peer_id, e.ad, is_local=False) for e in self.board.fresh() if e.ad.models]
        return [self.local_candidate(), *peers]

    # ----------------------------------------------------------------- tasks
    def _gate(self, peer: str) -> TaskRefusal | None:
        if not self._accepting:
            return TaskRefusal(task_id=b"\0" * 16, reason="busy", detail="node is shutting down", retry_after_ms=0)
        return None

    def _on_served(self, served: ServedTask) -> None:
        reply = served.reply
        outcome = "ok" if not isinstance(reply, TaskRefusal) else f"refused:{reply.reason}"
        self.metrics.tasks_served.labels(outcome=outcome.split(":")[0]).inc()
        self.metrics.serve_latency.observe(time.time() - served.started_at)
        self._log_task("in", served.peer, "serve", served.request.kind, outcome, reply)

    async def _request_remote(self, peer_b58: str, req: object) -> object:
        self._in_flight += 1
        try:
            return await self.tasks.request(ID.from_base58(peer_b58), req)  # type: ignore[arg-type]
        finally:
            self._in_flight -= 1

    async def ask(self, job: Job, *, mode: str = "auto", constraints: Constraints = NO_CONSTRAINTS, timeout_s: float = 60.0) -> Answer:
        """Answer ``job`` through the network (or locally) and record it; the API's core."""
        started = time.perf_counter()
        self._in_flight += 1
        try:
            answer = await self.collaborator.run(job, mode=mode, constraints=constraints, timeout_s=timeout_s)
        except NodeError:
            self.metrics.asks.labels(mode=mode, outcome="error").inc()
            raise
        finally:
            self._in_flight -= 1
        self.metrics.asks.labels(mode=mode, outcome="ok").inc()
        self.metrics.ask_latency.labels(mode=mode).observe(time.perf_counter() - started)
        self._log_task("out", answer.answered_by, answer.mode, job.kind, "ok", None, answer=answer)
        return answer

    def _log_task(self, direction: str, peer: str, mode: str, kind: str, outcome: str, reply: object, answer: Answer | None = None) -> None:
        try:
            self.store.log_task(
                direction=direction,
                peer=peer,
                mode=mode,
                kind=kind,
                status=outcome.split(":")[0],
                reason=outcome.split(":")[1] if ":" in outcome else "",
                model=(answer.model if answer else getattr(reply, "model", "")),
                prompt_tokens=(answer.prompt_tokens if answer else getattr(reply, "prompt_tokens", 0)),
                completion_tokens=(answer.completion_tokens if answer else getattr(reply, "completion_tokens", 0)),
                latency_ms=(answer.latency_ms if answer else getattr(reply, "latency_ms", 0.0)),
                cost=(answer.cost if answer else 0.0),
                confidence=(answer.confidence if answer else getattr(reply, "confidence", 0.0)),
            )
        except NodeError:
            log.exception("could not record the task (the answer was still delivered)")

    # ----------------------------------------------------------------- trust evidence
    def record_evidence(self, peer: str, kind: str, detail: str) -> None:
        self.metrics.evidence.labels(kind=kind).inc()
        try:
            self.store.add_evidence(peer=peer, kind=kind, detail=detail[:500])
        except NodeError:
            log.exception("could not record trust evidence")

    # ----------------------------------------------------------------- status
    def status(self) -> dict[str, object]:
        host = self.host
        connected = [p.to_base58() for p in host.get_network().get_connections_map()] if host else []
        m = self.measurement
        return {
            "peer_id": self.peer_id,
            "network": self.config.network,
            "topic": ads_topic(self.config.network),
            "addrs": full_addrs(host) if host else [],
            "api_url": self.api_url,
            "uptime_s": round(time.time() - self.started_at, 1),
            "model": {
                "name": self.backend.profile.name,
                "family": self.backend.profile.family,
                "params_m": self.backend.profile.params_m,
                "quant": self.backend.profile.quant,
                "n_ctx": self.backend.n_ctx,
                "prompt_tps": m.prompt_tps if m else None,
                "gen_tps": m.gen_tps if m else None,
                "cost_per_1k": self.cost_per_1k,
            },
            "queue": {"depth": self.backend.queue_depth, "max": self.backend.max_queue, "load": self.backend.load},
            "connected": connected,
            "peers": [e.to_json() for e in self.board.fresh()],
            "accepting": self._accepting,
            "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
        }
