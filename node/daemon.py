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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import psutil
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from multiaddr import Multiaddr
from peermind.protocol import CapabilityAd, ModelInfo, Signer, TaskRefusal, Verifier
from peermind.trust import (
    EvidenceEvent,
    MembershipRules,
    ModelContention,
    NewcomerPool,
    admission_from_text,
)

from .answer_log import AnswerLog
from .collab.answer import Answer, answered_offline
from .collab.candidates import Candidate
from .collab.constraints import (
    NO_CONSTRAINTS,
    NO_TACTICS,
    AllCandidatesFailed,
    Constraints,
    Tactics,
)
from .collab.feedback import LabelledOutcome
from .collab.outcome_rows import verdict_outcome, wire_outcomes
from .collab.policy import Collaborator, Job
from .collab.service import Collaboration, LearningSettings
from .config import NodeConfig
from .errors import NodeError
from .events import EventBus
from .identity import NodeIdentity
from .invite import make_invite, read_invite
from .knowledge import KnowledgeService
from .knowledge.wiring import index_in_background, knowledge_settings
from .known_peers import KnownPeers
from .light import NO_MODEL
from .llm import LlamaBackend, LLMError, Measurement
from .metrics import NodeMetrics
from .p2p.ads import AdBoard, AdGossip, ad_multiaddrs, ads_topic
from .p2p.dht import Provider, ProviderIndex
from .p2p.host import (
    BadMultiaddr,
    PeerUnreachable,
    dial,
    full_addrs,
    is_connected,
    parse_peer_addr,
    running_host,
)
from .p2p.load_news import DepthNews
from .p2p.membership import Membership
from .p2p.outcomes import OutcomeService
from .p2p.reach import set_address_source
from .p2p.relay import NatTraversal
from .p2p.replay_floors import ReplayFloors
from .p2p.rtt import RttBook, RttMonitor
from .p2p.settling import JoinSettling
from .p2p.streams import StreamEndpoint
from .p2p.tasks import PEER_PRIORITY, TASK_PROTOCOL, ServedTask, TaskLimits, TaskService
from .store import Store
from .training import TrainingService
from .trust_wiring import ModelSpeed, TrustPorts, TrustWiring, task_seconds, used_seconds
from .wire_tap import install_from_env as install_wire_tap

log = logging.getLogger("peermind.node")

STATE_FILE = "node.json"
BOOTSTRAP_RETRY_S = 5.0
API_CLOSE_GRACE_S = 5.0
REJOIN_MAX_PEERS = 8
REJOIN_WINDOW_S = 24 * 3600.0
NEWCOMER_WORK_BURST_S = 10.0
"""Model time all unproven peers together may take at once (the newcomer pool's work bucket, at
least): one long answer of an honest newcomer runs on a full bucket."""
OFFLINE_NOTE = "offline: no peer reachable, answered by this node alone"
EMBEDDER_LOAD_ESTIMATE_S = 3.0
"""First-start guess for loading the query embedder (MiniLM, ONNX); later starts use the last time taken."""
SPEED_STALE_S = 300.0
"""A model node that served nothing for this long re-measures its speed for its ad (LlamaBackend.refresh_speed).
Five minutes: a wrong start-up figure is corrected within them, and an idle node spends ~1 s of
one core per five minutes on it (a shorter period would load test suites' idle testnets)."""
"""Added to an answer's reason when no peer serving a model was reachable (intermittent links)."""


class NodeShuttingDown(AllCandidatesFailed):
    """The node is stopping: it finishes what it started but takes no new questions."""


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
        """Write the running node's state file (read by the CLI without importing the daemon)."""
        path = data_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2))
        os.replace(tmp, path)

    @classmethod
    def read(cls, data_dir: Path) -> NodeState:
        """The state file a running node wrote."""
        path = data_dir / STATE_FILE
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise NodeError(f"no running node found: {path} does not exist") from exc
        except (ValueError, TypeError) as exc:
            raise NodeError(f"{path} is not a node state file: {exc}") from exc


class ApiServer(Protocol):
    """Serves a node's HTTP API until ``shutdown_trigger`` returns; started with the bound URL.

    The daemon imports no HTTP code: the composition root (``peermind node run``) hands it
    ``peermind.node.api.server.serve_api``.
    """

    async def __call__(self, node: Node, *, task_status: trio.TaskStatus[str],
                       shutdown_trigger: Callable[[], Awaitable[object]]) -> None: ...


class Node:
    """A running peer. Build with ``Node(config, identity, store, backend, serve_api=serve_api)``
    (``peermind.node.api.server.serve_api``); ``await run()``."""

    def __init__(self, config: NodeConfig, identity: NodeIdentity, store: Store, backend: LlamaBackend,
                 *, serve_api: ApiServer) -> None:
        self.config = config
        self._serve_api_with = serve_api
        self.identity = identity
        self.store = store
        self.backend = backend
        self.peer_id = identity.peer_id_b58
        # A light node (--model none, node/light.py) advertises no model and serves no task.
        self.serves_model = backend.profile.name != NO_MODEL
        self.metrics = NodeMetrics()
        self.board = AdBoard()
        self.heard_peers = KnownPeers(store)  # ads' sightings, written to the store in batches
        self.joined = JoinSettling(self.board)  # idle LLM work waits for the network's ads
        self.rtt = RttBook()  # measured round trips to model peers (node/p2p/rtt.py), used in routing
        # Reputation from evidence (node/trust_wiring): exclusion, admission, verification.
        self.trust = TrustWiring(config, store, self.metrics.registry, self.peer_id, board=self.board,
                                 model=backend.profile.name)
        # Network membership on every protocol (node/p2p/membership.py): name, proof of work, secret.
        self.contention = ModelContention()  # the newcomer pool's work budget holds while others want the model
        self.membership = self._membership(config)
        self.trust.admission.is_member = self.membership.admits
        outside = self.membership.own_standing(self.peer_id)
        if outside is not None:  # this node's own peers will refuse it: say so here, once
            log.warning("this node is not admitted on its network", extra={"reason": outside.reason,
                                                                            "detail": str(outside)[:200]})
        self.signer = Signer(identity.private_key)
        self.verifier = Verifier(
            max_skew_s=config.limits.clock_skew_s,
            max_frame_bytes=config.limits.max_frame_bytes,
        )
        # Replay protection survives a restart (node/p2p/replay_floors.py): floors restored at start.
        self.replay_floors = ReplayFloors(store, self.verifier, window_ms=self.verifier.max_skew_ms)
        self.tasks = TaskService(
            backend,
            TaskLimits(config.limits.max_prompt_chars, config.limits.max_tokens),
            on_served=self._on_served,
            gate=self._gate,
            admit=self.trust.noting_waits(self.membership.pooled_admit(self.trust.admit_task, self.trust.task_done)),
            release=self.membership.pooled_release(self.trust.task_done),
            charge=self.membership.pooled_charge(self.trust.charge_work, self.trust.settle_work,
                                                 self.trust.admission.told_to_wait),
            settle=self.membership.pooled_settle(self.trust.settle_work),
            wait_admitted=self._wait_admitted,
            priority=self.trust.task_priority,
            turn_away=self.trust.turn_away,
            hold_away=self.trust.tarpit.hold,
        )
        # Collaboration (node/collab): router, embedder, modes, negotiation, feedback, seeding.
        self.collab = Collaboration(
            store=store,
            my_id=self.peer_id,
            candidates=self.candidates,
            local_candidate=self.local_candidate,
            execute_local=self.tasks.execute,
            request_remote=self._request_remote,
            on_evidence=self.record_evidence,
            gate=self._gate,
            max_tokens=config.limits.max_tokens,
            learning=LearningSettings(config.router.learn_datasets, config.router.learn_interval_s,
                                      config.router.learn_max_rows, idle=self._idle_after_join,
                                      on_verdict=self._judge_learned),
        )
        self.collaborator: Collaborator = self.collab.collaborator
        # Knowledge (node/knowledge): a local corpus grounds the tasks this node serves; the ad summarises it.
        self.knowledge = KnowledgeService(config.data_dir, self.collab.embedder.embed_many, knowledge_settings(config))
        self.tasks.grounder = self.knowledge
        self.collaborator.knowledge_weight = config.knowledge.match_weight
        self.collaborator.cheap_margin = config.router.cheap_margin
        self.router = self.collab.router  # RouterHolder: federated training calls .adopt()
        self.trust.install(self.collaborator.hooks)
        t = config.trust
        self.collaborator.checks_peers = t.enabled and (
            t.canary_rate > 0 or t.probe_interval_s > 0 or config.router.learn_interval_s > 0)
        # Every judged canary and idle probe (peers' answers and this node's own) is a labelled router row.
        self.trust.on_canary_outcome = lambda o: self.collab.recorder.submit_outcome(
            LabelledOutcome(o.job, o.peer_id, o.model, o.correct, "canary", o.item_key))
        # Verdicts on answers reach the peers that gave them, which keep labelled rows (p2p/outcomes.py).
        self.outcomes = OutcomeService(lambda v: self.collab.recorder.submit_outcome(verdict_outcome(v, self.peer_id)))
        wire_outcomes(self.collab, self.outcomes.notify, self.peer_id)
        self.host: IHost | None = None
        self.gossip: AdGossip | None = None
        self.nat: NatTraversal | None = None
        self.providers: ProviderIndex | None = None
        self.endpoint: StreamEndpoint | None = None
        self.api_url = ""
        self.started_at = time.time()
        self.measurement: Measurement | None = backend.measurement
        self._accepting = True
        self._in_flight = 0
        self._ad_seq = int(time.time() * 1000)
        self._stop = trio.Event()
        self._api_stop = trio.Event()
        self._api_done = trio.Event()
        self.ready = trio.Event()
        self.events = EventBus()  # live feed for the console (GET /events); never blocks the node
        self.answers = AnswerLog()  # recent answers with full provenance, for the console
        self.training = TrainingService(self)  # federated router training (node/training)

    # ----------------------------------------------------------------- lifecycle
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every part in one nursery and serve until cancelled."""
        try:
            await self._run(task_status)
        finally:
            (self.config.data_dir / STATE_FILE).unlink(missing_ok=True)

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        if self.measurement is None:
            log.info("measuring the local model", extra={"model": self.backend.profile.name})
            self.measurement = await self.backend.measure()
        await self._load_query_embedder()
        await self.trust.prepare(self.config.data_dir)  # proof of work before the first ad
        self.replay_floors.restore()  # before the first envelope is verified
        install_wire_tap()  # PEERMIND_WIRE_TAP=FILE: every sent frame, for wire audits (node/wire_tap.py)
        key_pair = self.identity.libp2p_key_pair()
        mdns_network = self.config.network if self.config.mdns else None
        async with running_host(key_pair, self.config.listen, mdns_network=mdns_network,
                                announce=self.config.ads.announce) as host:
            self.host = host
            self.joined.start()  # the wait for the network's ads starts now, not when the node was built
            set_address_source(host, self._ad_addresses)  # streams dial an unconnected peer where its ad says
            endpoint = StreamEndpoint(
                host,
                TASK_PROTOCOL,
                self.signer,
                self.verifier,
                max_frame_bytes=self.config.limits.max_frame_bytes,
                read_timeout_s=self.config.limits.request_timeout_s,
                on_evidence=self.record_evidence,
            )
            self.endpoint = endpoint
            self.tasks.attach(endpoint)
            self.collab.attach(host, self.signer, self.verifier, max_frame_bytes=self.config.limits.max_frame_bytes,
                               read_timeout_s=self.config.limits.request_timeout_s)
            self.outcomes.attach(host, self.signer, self.verifier, max_frame_bytes=self.config.limits.max_frame_bytes,
                                 read_timeout_s=self.config.limits.request_timeout_s, on_evidence=self.record_evidence)
            self.gossip = AdGossip(
                host,
                self.signer,
                self.verifier,
                self.board,
                self.config.network,
                self.make_ad,
                republish_s=self.config.ads.republish_s,
                on_evidence=self.record_evidence,
                joined=self.joined.settled,
                on_ad=self._on_ad,
                accept_peer=self.trust.admit_ad,
                check_ad=self.membership.ad_check(self.trust.check_ad),
                score_params=self.trust.gossip_score_params(),
            )
            # Relay service, reservations and circuit dials (p2p/relay.py): before any dial.
            self.nat = NatTraversal(host, self.config.relay, on_addrs_changed=self._republish_ad)
            async with trio.open_nursery() as nursery:
                await nursery.start(self.nat.run)
                if self.config.dht:  # before any dial: connecting peers must find the KAD handler
                    self.providers = ProviderIndex(host, self.config.network, self._provides(), joined=self.joined.settled)
                    await nursery.start(self.providers.run)
                if self.config.mdns:
                    from .p2p.mdns import MdnsDialer

                    await nursery.start(MdnsDialer(host).run)
                await nursery.start(self.heard_peers.run)
                await nursery.start(self.gossip.run)
                await nursery.start(self.trust.run, self._trust_ports(host))
                await nursery.start(self.training.run)
                await nursery.start(self.collab.run)
                await nursery.start(self.outcomes.run)
                nursery.start_soon(self._bootstrap_loop)
                nursery.start_soon(self.replay_floors.run)
                nursery.start_soon(RttMonitor(host, self._model_peers, book=self.rtt).run)
                nursery.start_soon(self._load_watch)
                if self.serves_model:
                    nursery.start_soon(self._speed_watch)
                nursery.start_soon(index_in_background, self.knowledge, self.config.knowledge.docs,
                                   self.collab.embedder.request_load)
                self.api_url = await nursery.start(self._serve_api)
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
                # Let the API write the answers of the questions that just finished.
                self._api_stop.set()
                with trio.move_on_after(API_CLOSE_GRACE_S):
                    await self._api_done.wait()
                nursery.cancel_scope.cancel()

    async def _serve_api(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await self._serve_api_with(self, task_status=task_status, shutdown_trigger=self._api_stop.wait)
        finally:
            self._api_done.set()

    def stop(self) -> None:
        """Begin a graceful shutdown: refuse new tasks, let running ones finish (up to the grace period)."""
        self._accepting = False
        self._stop.set()
        self.events.close()  # ends open console streams, so the API server can close at once

    @property
    def in_flight(self) -> int:
        """Questions this node is answering plus peers' tasks it is serving."""
        return self._in_flight + (self.endpoint.in_flight if self.endpoint else 0)

    async def _drain(self) -> None:
        with trio.move_on_after(self.config.limits.shutdown_grace_s):
            while self.in_flight:  # noqa: ASYNC110 - counts change in many places; polling keeps them simple
                await trio.sleep(0.05)
        if self.in_flight:
            log.warning("shutdown grace period over with tasks in flight", extra={"in_flight": self.in_flight})

    # ----------------------------------------------------------------- discovery
    async def _bootstrap_loop(self) -> None:
        assert self.host is not None
        await self._rejoin_known_peers()
        infos = [parse_peer_addr(a) for a in self.config.bootstrap]
        while infos:
            for info in infos:
                try:
                    await dial(self.host, info)
                except PeerUnreachable as exc:
                    log.info("bootstrap peer unreachable, will retry", extra={"error": str(exc)})
            await trio.sleep(BOOTSTRAP_RETRY_S)

    async def _rejoin_known_peers(self) -> None:
        """Dial the peers seen recently (from the store) once, concurrently.

        A restarted node finds its neighbours again even when its bootstrap peer is gone
        or was never configured; peers that moved or died just fail their dial.
        """
        try:
            records = self.store.list_peers(since=time.time() - REJOIN_WINDOW_S)[:REJOIN_MAX_PEERS]
        except NodeError:
            log.exception("could not read known peers; relying on bootstrap only")
            return
        async with trio.open_nursery() as nursery:
            for record in records:
                if record.peer_id != self.peer_id and record.addrs:
                    nursery.start_soon(self._dial_known, record.peer_id, record.addrs)

    def _ad_addresses(self, peer: ID) -> list[Multiaddr]:
        """Where ``peer``'s fresh ad says it can be reached (a relayed peer: its circuit addresses only)."""
        peer_b58 = peer.to_base58()
        entry = self.board.get(peer_b58)
        return ad_multiaddrs(peer_b58, entry.ad) if entry is not None else []

    async def _dial_known(self, peer: str, addrs: tuple[str, ...]) -> None:
        assert self.host is not None
        for addr in addrs:
            try:
                await dial(self.host, parse_peer_addr(addr), timeout_s=3.0)
                log.info("reconnected to a known peer", extra={"peer": peer})
                return
            except (PeerUnreachable, BadMultiaddr):
                continue

    def _provides(self) -> list[tuple[str, str]]:
        """What this node registers as a provider of in the DHT (model, skills, tags).

        A light node registers nothing: it answers no task, so a lookup for providers must not
        return it, and every provide is a lookup that dials the closest peers (in a 20-node
        testnet, all of them: a full mesh of connections, each with its own gossip copies).
        """
        if not self.serves_model:
            return []
        out = [("model", self.backend.profile.name)]
        out += [("skill", s) for s in self.config.ads.skills]
        out += [("tag", t) for t in self.config.ads.tags]
        return out

    async def find_providers(self, kind: str, name: str, *, timeout_s: float = 5.0) -> list[Provider]:
        """Peers of this network that registered ``kind/name`` (model, skill, tag) in the DHT."""
        if self.providers is None:
            from .p2p.dht import DhtError

            raise DhtError("the DHT is off on this node (dht = false)")
        return await self.providers.find(kind, name, timeout_s=timeout_s)

    def _on_ad(self, peer: str, ad: CapabilityAd, raw: bytes) -> None:
        """Remember every peer we heard from, so a restarted node knows its old neighbours."""
        self.heard_peers.heard(peer, ad, raw)
        self.events.publish("ad", {"peer": peer, "seq": ad.seq, "queue_depth": ad.queue_depth, "load": ad.load})

    async def _load_watch(self) -> None:
        """Republish the ad when the queue depth has changed for a while, so routers see real load
        (not for every task that comes and goes: ``p2p/load_news.py``)."""
        news = DepthNews(self.backend.queue_depth_for(PEER_PRIORITY))
        while True:
            await trio.sleep(0.5)
            self.metrics.queue_depth.set(self.backend.queue_depth)
            depth = self.backend.queue_depth_for(PEER_PRIORITY)  # what the ad says
            self.metrics.peers_fresh.set(len(self.board.fresh()))
            if self.gossip is not None:
                self.metrics.ads_published.set(self.gossip.ads_published)
            if self.gossip is not None and news.due(depth):
                self.gossip.request_publish()

    async def _load_query_embedder(self) -> None:
        """A model node loads its query embedder before it goes on the network, as it loads its model.

        It needs it within seconds anyway: its first canary or probe verdict is a labelled row,
        embedded for the router. Loaded on that first row instead, every node of a fresh network
        loaded it (5-8 s of a core on a busy machine) while the ads still spread, and the worker
        thread starved the node's event loop. 20 SmolLM2 nodes converged in 15.1-17.1 s after the
        last was ready against 20.2-23.8 s; holding the rows until the ads settled (tried and
        reverted) moved all 20 loads just past convergence, where dropped connections cost
        26.9-28.1 s (docs/results/scale-s10.md). Light nodes keep loading it on their first question.
        A load that fails leaves routing on the ad prior and the next embedding tries again.
        """
        embedder = self.collab.embedder
        if not self.serves_model or embedder.ready:
            return
        from .progress import (  # rich: imported where a node starts, as the CLI does
            TIMINGS_FILE,
            Stages,
        )

        try:
            with Stages(self.config.data_dir / TIMINGS_FILE) as stages, \
                    stages.stage("load:query-embedder", "loading the query embedder", EMBEDDER_LOAD_ESTIMATE_S):
                await embedder.warm_up()
        except Exception as exc:  # the node still serves; a user sees one line, not a traceback
            log.warning("the query embedder failed to load; routing stays on the ad prior until it loads",
                        extra={"error": f"{type(exc).__name__}: {exc}"})

    async def _speed_watch(self) -> None:
        """Keep the ad's speed current while no served task shows it: a start-up figure taken on
        a loaded machine would otherwise keep routers away from this node for good."""
        while True:
            await trio.sleep(SPEED_STALE_S / 4)
            if self.in_flight:
                continue
            try:
                refreshed = await self.backend.refresh_speed(stale_after_s=SPEED_STALE_S)
            except LLMError:  # busy or closing: the next round tries again
                continue
            if refreshed:
                self.measurement = self.backend.measurement
                self._republish_ad()

    # ----------------------------------------------------------------- ads
    def _republish_ad(self) -> None:
        if self.gossip is not None:
            self.gossip.request_publish()

    def _ad_addrs(self) -> list[str]:
        """Where peers can dial us: our listen (or announced) addresses, or only relayed ones behind a NAT."""
        assert self.host is not None
        announced = [f"{a}/p2p/{self.peer_id}" for a in self.config.ads.announce]
        direct = announced or full_addrs(self.host)
        return self.nat.advertised_addrs(direct) if self.nat is not None else direct

    async def make_ad(self) -> CapabilityAd:
        """This node's signed capability ad as peers will see it.

        Speeds are those of the tasks served lately (the backend's EWMA), not the start-up
        benchmark's: on a machine that got busy since, the benchmark promised answers 1.3-4x
        sooner than they came, and askers' budget_ms checks trusted it (docs/results/links-validation-before-fix.md).
        """
        assert self.host is not None and self.measurement is not None
        m = self.measurement
        seen = self.backend.speed
        profile = self.backend.profile
        self._ad_seq += 1
        return CapabilityAd(
            network=self.config.network,
            addrs=self._ad_addrs(),
            models=[] if not self.serves_model else [
                ModelInfo(
                    name=profile.name,
                    family=profile.family,
                    params_m=profile.params_m,
                    quant=profile.quant,
                    n_ctx=self.backend.n_ctx,
                    size_mb=m.model_size_mb,
                    prompt_tps=round(seen.prompt_tps or m.prompt_tps, 1),
                    gen_tps=round(seen.gen_tps or m.gen_tps, 1),
                    chat=profile.chat,
                )
            ],
            # what a trusted peer would wait behind: not unproven peers' work it would cut short
            queue_depth=self.backend.queue_depth_for(PEER_PRIORITY),
            max_queue=self.backend.max_queue,
            max_concurrency=self.config.llm.max_concurrency,
            load=self.backend.load,
            cost_per_1k=self.cost_per_1k,
            tags=list(self.config.ads.tags),
            skills=list(self.config.ads.skills),
            ttl_s=self.config.ads.ttl_s,
            seq=self._ad_seq,
            training=self.training.available,
            ram_mb=int(psutil.virtual_memory().available / 2**20),
            pow_nonce=self.trust.pow_nonce,
            member_proof=self.membership.own_proof(self.peer_id),
            admission=self.membership.own_admission,
            knowledge=await self.knowledge.summary_or_none(),
        )

    @property
    def cost_per_1k(self) -> float:
        """This node's price per 1000 tokens."""
        configured = self.config.ads.cost_per_1k
        return configured if configured is not None else self.backend.profile.default_cost_per_1k

    def local_candidate(self) -> Candidate:
        """This node's own model as a routing candidate."""
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
            knowledge=self.knowledge.last_summary,
        )

    def candidates(self) -> list[Candidate]:
        """This node and every peer with a fresh ad, as routing candidates."""
        peers = [replace(Candidate.from_ad(e.peer_id, e.ad, is_local=False), rtt_ms=self.rtt.rtt_ms(e.peer_id) or 0.0)
                 for e in self.board.fresh() if e.ad.models]
        local = [self.local_candidate()] if self.serves_model else []  # a light node answers through peers only
        return self.trust.annotate([*local, *peers])

    def _membership(self, config: NodeConfig) -> Membership:
        """The network's admission rules; unproven peers (trust on) share one newcomer pool,
        as large as one trusted peer's allowance, whose work budget holds while this node's user
        has a question in flight or had one, or a proven peer's task was admitted, lately."""
        t = config.trust
        rules = MembershipRules.build(config.network, t.pow_difficulty_bits, config.network_secret,
                                      config.network_admitters)
        admission = admission_from_text(config.network_admission) if config.network_admission else None
        if not t.enabled:
            return Membership(rules, self.board, own_id=self.peer_id, own_admission=admission)
        book, probation = self.trust.book, self.trust.params.probation_interactions
        share = t.newcomer_work_share  # seconds of this node's model time per second
        pool = NewcomerPool(rate=t.request_rate, burst=t.request_burst,
                            concurrent=max(2, round(t.request_burst * 0.4)),
                            work_rate=(lambda: share) if share > 0 else None, min_work_burst=NEWCOMER_WORK_BURST_S,
                            contention=self.contention)
        return Membership(rules, self.board, pool=pool, own_id=self.peer_id, own_admission=admission,
                          unproven=lambda peer: book.interactions(peer) < probation and peer != self.peer_id,
                          work_cost=lambda req: task_seconds(req, self._model_speed()),
                          work_used=lambda req, reply: used_seconds(req, reply, self._model_speed()))

    def _model_speed(self) -> ModelSpeed:
        """This node's speeds now: served tasks' EWMA, else the start-up measurement."""
        seen, measured = self.backend.speed, self.measurement
        return ModelSpeed(seen.prompt_tps or (measured.prompt_tps if measured is not None else 1.0),
                          seen.gen_tps or (measured.gen_tps if measured is not None else 1.0))

    def issue_invite(self, ttl_s: float) -> dict[str, object]:
        """A token (signed with this node's key, expiring in ``ttl_s``) that joins this network here."""
        assert self.host is not None
        token = make_invite(self.signer, self.config.network, full_addrs(self.host), ttl_s=ttl_s,
                            secret=self.config.network_secret)
        expires = read_invite(token)
        return {"token": token, "network": expires.network, "inviter": self.peer_id,
                "expires_at": expires.expires_at, "private": self.config.network_secret is not None}

    # ----------------------------------------------------------------- tasks
    def _gate(self, peer: str) -> TaskRefusal | None:
        if not self._accepting:
            return TaskRefusal(task_id=b"\0" * 16, reason="busy", detail="node is shutting down", retry_after_ms=0)
        if not self.serves_model:
            return TaskRefusal(task_id=b"\0" * 16, reason="unsupported", detail="light node: it serves no model")
        # banned: untrusted, first (a ban also drops the peer's ad, which membership would
        # report as unadvertised); outside the network: wrong_network / not_member /
        # unadvertised; then the trust gate: over its allowance, rate_limited
        return self.trust.refuse_banned(peer) or self.membership.gate(peer) or self.trust.gate(peer)

    async def _wait_admitted(self, peer: str) -> None:
        """Membership's short wait for a requester's first ad; never for a banned peer, whose ad
        the ban removed: it gets its typed refusal at once."""
        if not self.trust.is_banned(peer):
            await self.membership.wait_admitted(peer)

    def _on_served(self, served: ServedTask) -> None:
        reply = served.reply
        self.outcomes.remember(served.peer, served.request, reply)
        outcome = "ok" if not isinstance(reply, TaskRefusal) else f"refused:{reply.reason}"
        self.metrics.tasks_served.labels(outcome=outcome.split(":")[0]).inc()
        self.metrics.serve_latency.observe(time.time() - served.started_at)
        # The request's id, as the asker's provenance names it (served_task_id): both logs join on it.
        self._log_task("in", served.peer, "serve", served.request.kind, outcome, reply, task_id=served.request.task_id.hex())
        self.events.publish("served", {"peer": served.peer, "kind": served.request.kind, "outcome": outcome,
                                       "latency_ms": round((time.time() - served.started_at) * 1000, 1),
                                       "model": getattr(reply, "model", ""), "confidence": getattr(reply, "confidence", None)})

    async def _request_remote(self, peer_b58: str, req: object) -> object:
        self._in_flight += 1
        try:
            return await self.tasks.request(ID.from_base58(peer_b58), req)  # type: ignore[arg-type]
        finally:
            self._in_flight -= 1

    async def ask(self, job: Job, *, mode: str = "auto", constraints: Constraints = NO_CONSTRAINTS, timeout_s: float = 60.0,
                  tactics: Tactics = NO_TACTICS) -> Answer:
        """Answer ``job`` through the network (or locally) and record it; the API's core."""
        if not self._accepting:
            raise NodeShuttingDown("this node is shutting down; ask another node")
        started = time.perf_counter()
        reachable_at_start = bool(self._model_peers())
        self._in_flight += 1
        try:
            with self.contention.user_asking():
                answer = await self.collab.ask(job, mode=mode, constraints=constraints, timeout_s=timeout_s,
                                               tactics=tactics)
        except NodeError as exc:
            self.metrics.asks.labels(mode=mode, outcome="error").inc()
            self.events.publish("task", self.answers.record(job, mode, error=exc, latency_ms=(time.perf_counter() - started) * 1000))
            raise
        finally:
            self._in_flight -= 1
        if answered_offline(answer, self.peer_id, reachable_at_start=reachable_at_start):
            answer = replace(answer, reason=f"{answer.reason}; {OFFLINE_NOTE}")
        self.metrics.asks.labels(mode=mode, outcome="ok").inc()
        self.metrics.ask_latency.labels(mode=mode).observe(time.perf_counter() - started)
        self._log_task("out", answer.answered_by, answer.mode, job.kind, "ok", None, answer=answer)
        self.events.publish("task", self.answers.record(job, mode, answer=answer))
        return answer

    def _model_peers(self) -> list[str]:
        """Connected peers with a fresh ad that serve a model: those a question could reach now."""
        host = self.host
        return [e.peer_id for e in self.board.fresh()
                if e.ad.models and host is not None and is_connected(host, ID.from_base58(e.peer_id))]

    def _log_task(self, direction: str, peer: str, mode: str, kind: str, outcome: str, reply: object,
                  answer: Answer | None = None, task_id: str | None = None) -> None:
        try:
            self.store.log_task(
                direction=direction,
                task_id=(answer.task_id or None) if answer else task_id,
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
    def _judge_learned(self, outcome: LabelledOutcome) -> None:
        """A peer's reply to idle learning is a known-answer check: trust weighs it like a canary."""
        if outcome.peer != self.peer_id:
            self.trust.judge_known_answer(outcome.peer, outcome.model, max(2, len(outcome.job.continuations)),
                                          outcome.correct, outcome.local_right, f"learning {outcome.query_id}")

    def _idle_after_join(self) -> bool:
        """Idle learning and regular probes run the model: not while serving, nor before ads settle,
        nor during a training run here."""
        return self.in_flight == 0 and self.joined.settled() and not self.training.busy

    def reputation(self, peer_b58: str) -> float:
        """This node's local reputation of a peer in [0, 1] (federated training weighs updates by it)."""
        return self.trust.reputation(peer_b58)

    def _trust_ports(self, host: IHost) -> TrustPorts:
        """The narrow ports trust's background work (verification, bans, opinions) runs on."""
        return TrustPorts(
            attempt=self.collaborator.attempt,
            candidates=self.candidates,
            backing_off=self.collaborator.backoff.waiting,
            idle=self._idle_after_join,
            joined=self.joined.settled,
            run_local=self.tasks.execute,
            host=host,
            pubsub=lambda: self.gossip.pubsub if self.gossip is not None else None,
            forget_ad=self.board.remove,
            signer=self.signer,
            verifier=self.verifier,
            record_evidence=self.record_evidence,
            data_dir=self.config.data_dir,
        )

    def record_evidence(self, event: EvidenceEvent) -> None:
        """Every part's evidence about a peer: counted, scored and stored by trust, and shown live."""
        self.metrics.evidence.labels(kind=event.kind.value).inc()
        self.trust.observe(event)
        self.events.publish("evidence", {"peer": event.peer, "kind": event.kind.value, "detail": event.detail[:200]})

    # ----------------------------------------------------------------- status
    def status(self) -> dict[str, object]:
        """The node's status, for ``/status`` and ``peermind status``."""
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
            "membership": self.membership.snapshot(),
            "discovery": {
                "mdns": self.config.mdns,
                "dht": self.providers is not None,
                "dht_routing_table": self.providers.routing_table_size if self.providers else 0,
            },
            "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
            "rtt_ms": self.rtt.snapshot(),
            "relay": self.nat.status() if self.nat is not None else None,
        }
