"""``peermind bench collab``: how long collaboration's own decisions take, on real nodes.

Two figures, each measured next to the LLM call it precedes, through a node's public API:

- routing decision: embedding the query + the learned router's P(correct) per model +
  ranking the candidates (``decision_ms`` in the provenance of ``mode=route``), on
  questions the node has never embedded (the embedder's cache would hide the cost);
- negotiation overhead: first offer sent -> award accepted (``negotiation_ms`` of
  ``mode=auction``), with every node of the network bidding.

Without ``--api`` it starts its own testnet (default 5 nodes, ``mix``), seeds node-0's
router with a few items if it has no trained head (so the decision includes the real
embedding and model), and always tears the testnet down. Trust's newcomer request rate
limit is raised in that testnet, so back-to-back benchmark calls measure the protocol,
not the rate limiter.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._bench_results import write_bench_results
from .errors import TestnetError

RELAXED_TRUST = ["--set", "trust.request_rate=50", "--set", "trust.request_burst=50"]
QUESTION_OFFSET = 300  # validation items past any seed's validation slice: never embedded before
_BIDS = re.compile(r"auction: (\d+) bids")


@dataclass
class CollabBenchSettings:
    nodes: int = 5
    queries: int = 30
    seed_limit: int = 8
    dataset: str = "arc_easy"
    api: str | None = None
    testnet_dir: Path | None = None
    out: Path = Path("docs/results/collab-bench.json")
    command: str = ""


@dataclass
class CollabBenchResult:
    peers: int
    router: dict[str, Any]
    decision_ms: list[float] = field(default_factory=list)
    route_llm_ms: list[float] = field(default_factory=list)
    negotiation_ms: list[float] = field(default_factory=list)
    auction_llm_ms: list[float] = field(default_factory=list)
    bids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        from peermind.bench import percentile

        def stats(values: list[float]) -> dict[str, float | None]:
            if not values:
                return {"n": 0, "p50": None, "p95": None}
            return {"n": len(values), "p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2)}

        return {
            "peers": self.peers,
            "routing_decision_ms": stats(self.decision_ms),
            "route_llm_call_ms": stats(self.route_llm_ms),
            "negotiation_ms": stats(self.negotiation_ms),
            "auction_llm_call_ms": stats(self.auction_llm_ms),
            "bids_per_auction": stats([float(b) for b in self.bids]),
            "decision_over_llm_call_p50": _ratio(self.decision_ms, self.route_llm_ms),
            "goals": {"routing_decision_p50_under_20ms": _under(self.decision_ms, 20.0),
                      "negotiation_p50_under_50ms": _under(self.negotiation_ms, 50.0)},
        }


def _ratio(part: list[float], whole: list[float]) -> float | None:
    """p50 of ``part`` over p50 of ``whole``: the decision as a share of the call it precedes."""
    from peermind.bench import percentile

    ok = [w for w in whole if w == w]  # NaN: a call that never answered
    return None if not part or not ok else round(percentile(part, 50) / percentile(ok, 50), 4)


def _under(values: list[float], limit: float) -> bool | None:
    from peermind.bench import percentile

    return None if not values else percentile(values, 50) < limit


def run_collab_bench(settings: CollabBenchSettings, say: Callable[[str], None]) -> CollabBenchResult:
    from peermind.node.client import NodeClient

    if settings.api:
        with NodeClient(settings.api) as client:
            return _measure(client, settings, say)
    from ._launcher import Testnet

    directory = settings.testnet_dir or Path(tempfile.mkdtemp(prefix="peermind-collab-bench-"))
    net = Testnet(directory)
    try:
        say(f"starting a {settings.nodes}-node testnet in {directory}")
        nodes = net.up(settings.nodes, profile="mix", threads=1, extra_args=RELAXED_TRUST, progress=say)
        with NodeClient(nodes[0].api) as client:
            result = _measure(client, settings, say)
        result.meta["testnet"] = {"nodes": settings.nodes, "profile": "mix", "models": [n.model for n in nodes]}
        return result
    finally:
        net.down(progress=lambda _m: None)


def _measure(client: Any, settings: CollabBenchSettings, say: Callable[[str], None]) -> CollabBenchResult:
    from peermind.bench import load_items, mc_context, mc_continuations

    peers = len(client.peers()) + 1
    status = client.router_status()
    if not status["router"]["trained_heads"]:
        say(f"no trained router head: seeding with {settings.seed_limit} {settings.dataset} train items per model")
        done = client.router_seed([settings.dataset], limit=settings.seed_limit,
                                  validation_limit=max(4, settings.seed_limit // 2), generation_items=0, wait=True)
        if done.get("state") != "done":
            raise RuntimeError(f"seeding failed: {done.get('error')}")
        status = client.router_status()
    items = load_items(settings.dataset, "validation")[QUESTION_OFFSET:QUESTION_OFFSET + settings.queries + 2]
    result = CollabBenchResult(peers=peers, router={k: status["router"][k] for k in ("version", "source", "trained_heads")})
    for i, item in enumerate(items):
        ctx, conts = mc_context(item), mc_continuations(item)
        try:
            _scores, route = client.score(ctx, conts, mode="route")
            _scores, auction = client.score(ctx, conts, mode="auction", k=max(peers, 1))
        except Exception as exc:  # a refused or failed call is reported, not fatal
            result.errors.append(f"{item.id}: {type(exc).__name__}: {exc}"[:300])
            continue
        if i < 2:
            continue  # warm-up: the first calls may load the embedder (seconds, once per process)
        result.decision_ms.append(float(route["decision_ms"]))
        result.route_llm_ms.append(_llm_ms(route))
        if auction.get("negotiation_ms") is not None:
            result.negotiation_ms.append(float(auction["negotiation_ms"]))
            result.auction_llm_ms.append(_llm_ms(auction))
            match = _BIDS.search(auction.get("reason", ""))
            result.bids.append(int(match.group(1)) if match else 0)
        if (i + 1) % 10 == 0:
            say(f"{i + 1}/{len(items)} questions")
    return result


def compare_embedders(settings: CollabBenchSettings) -> dict[str, Any]:
    """The embedding alone, onnxruntime vs torch, on the same questions (in this process)."""
    from peermind.bench import load_items, mc_context, mc_continuations
    from peermind.federated.benchmark import compare_embedding_runtimes

    items = load_items(settings.dataset, "validation")[QUESTION_OFFSET:QUESTION_OFFSET + settings.queries]
    # The router's query text for a multiple-choice job (node/collab/embedding.query_text).
    texts = [f"{mc_context(it).strip()}\nChoices: {' | '.join(c.strip() for c in mc_continuations(it))}"
             for it in items]
    return compare_embedding_runtimes(texts)


def _llm_ms(provenance: dict[str, Any]) -> float:
    ok = [a["latency_ms"] for a in provenance.get("attempts", []) if a.get("outcome") == "ok"]
    return float(ok[-1]) if ok else float("nan")


def format_markdown(result: CollabBenchResult, command: str) -> str:
    s = result.summary()

    def row(name: str, key: str, goal: str) -> str:
        v = s[key]
        return f"| {name} | {v['n']} | {v['p50']} | {v['p95']} | {goal} |"

    lines = [
        f"# Collaboration overheads ({s['peers']} peers on loopback)",
        "",
        f"Command: `{command}`" if command else "",
        "",
        "| measure | n | p50 ms | p95 ms | goal |",
        "|---|---:|---:|---:|---|",
        row("routing decision (embed + router + ranking)", "routing_decision_ms", "p50 < 20 ms"),
        row("LLM call after routing (same queries)", "route_llm_call_ms", ""),
        row("negotiation: offer -> award accepted", "negotiation_ms", "p50 < 50 ms"),
        row("LLM call after the award", "auction_llm_call_ms", ""),
        row("bids per auction", "bids_per_auction", ""),
        "",
        f"Goals met: {json.dumps(s['goals'])}. Router: {json.dumps(result.router)}.",
        "",
        f"Routing decision as a share of the LLM call it precedes (p50 / p50): "
        f"{s['decision_over_llm_call_p50']}.",
    ]
    emb = result.meta.get("embedding_runtimes")
    if emb:
        low, high = emb["ratio_p50_ci95"]
        lines += ["", f"Embedding one question alone, in this process, onnxruntime vs torch (one thread each, "
                      f"alternating, n = {emb['n']}): p50 {emb['onnx_ms_p50']} vs {emb['torch_ms_p50']} ms, "
                      f"per-question ratio {emb['ratio_p50']} (95% CI {low}-{high}); vectors differ by at most "
                      f"{emb['max_abs_diff']:.1e}."]
    load = result.meta.get("loadavg")
    if load:
        lines.append(f"Machine load (1/5/15 min) at start {load['start']}, at end {load['end']} (2 cores).")
    if result.errors:
        lines += ["", f"{len(result.errors)} calls failed; first: {result.errors[0]}"]
    return "\n".join(lines) + "\n"


def cmd_bench_collab(args: argparse.Namespace) -> int:
    if args.queries < 1 or (args.api is None and args.nodes < 2):  # before any testnet starts
        raise TestnetError(f"bench collab needs --queries >= 1 and, without --api, --nodes >= 2; "
                           f"got {args.queries} and {args.nodes}")
    settings = CollabBenchSettings(
        nodes=args.nodes, queries=args.queries, seed_limit=args.seed_limit, dataset=args.dataset,
        api=args.api, testnet_dir=args.dir, out=args.out,
        command="peermind " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "",
    )
    started = time.monotonic()
    load_start = [round(x, 2) for x in os.getloadavg()]
    result = run_collab_bench(settings, lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    result.meta["wall_s"] = round(time.monotonic() - started, 1)
    result.meta["loadavg"] = {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]}
    result.meta["embedding_runtimes"] = compare_embedders(settings)
    result.meta["loadavg"]["after_embedding"] = [round(x, 2) for x in os.getloadavg()]
    write_bench_results(settings.out, {"summary": result.summary(), "raw": asdict(result), "command": settings.command},
                        format_markdown(result, settings.command), show=True)
    return 0


def add_parser(bench: Any) -> None:
    p = bench.add_parser("collab", help="routing-decision latency and negotiation overhead on real nodes")
    p.add_argument("--nodes", type=int, default=5, help="testnet size when no --api (default 5)")
    p.add_argument("--queries", type=int, default=30, help="questions per mode (default 30)")
    p.add_argument("--seed-limit", type=int, default=8, help="train items to seed an untrained router with (default 8)")
    p.add_argument("--dataset", default="arc_easy", help="multiple-choice dataset the questions come from (validation split)")
    p.add_argument("--api", help="measure through this running node (HOST:PORT) instead of a new testnet")
    p.add_argument("--dir", type=Path, help="testnet directory (default: temporary)")
    p.add_argument("--out", type=Path, default=Path("docs/results/collab-bench.json"), help="results JSON (.md beside it)")
    p.set_defaults(func=cmd_bench_collab)
