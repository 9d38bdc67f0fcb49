"""``peermind bench ...``: measurements (not tests) of a real node and the wire format.

Registered through the ``peermind.commands`` entry point as ``bench``. Each subcommand
is added by one ``_add_<name>(bench)`` function below; add new ones (e.g. ``bench
eval``) the same way and list them in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import TestnetError


def _say(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def _write_json(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2))
        print(f"wrote {path}", file=sys.stderr)


# ------------------------------------------------------------------ bench node
def cmd_bench_node(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ._bench_node import format_table, run_node_benchmark

    result = run_node_benchmark(
        prompts=args.prompts, max_tokens=args.max_tokens, threads=args.threads, model=args.model,
        workdir=args.dir, idle_s=args.idle_s, idle_learning=args.idle_learning,
        progress=_say if args.verbose else lambda _m: None,
    )
    Console().print(format_table(result))
    _write_json(args.out, result.to_json())
    return 0


def _add_node(bench: Any) -> None:
    p = bench.add_parser("node", help="network-path overhead vs direct llama.cpp, idle RSS, time to first ad")
    p.add_argument("--prompts", type=int, default=20, help="how many of the 20 fixed prompts (default 20)")
    p.add_argument("--max-tokens", type=int, default=64, help="tokens per answer (default 64)")
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads, direct and in the nodes (default 1)")
    p.add_argument("--model", default="smollm2", help="model profile or .gguf path (default smollm2)")
    p.add_argument("--idle-s", type=float, default=5.0, help="idle time before reading RSS (default 5)")
    p.add_argument("--idle-learning", action="store_true",
                   help="leave the nodes' idle learning on, as a node runs by default: its memory is the "
                   "figure (probes then fall between the timed requests, so read the latencies with care)")
    p.add_argument("--dir", type=Path, help="keep the testnet's data here (default: a temporary directory)")
    p.add_argument("--out", type=Path, help="write the figures and raw timings as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="print progress")
    p.set_defaults(func=cmd_bench_node)


# ------------------------------------------------------------------ bench stream
def cmd_bench_stream(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ._bench_stream import format_table, run_stream_benchmark

    result = run_stream_benchmark(prompts=args.prompts, max_tokens=args.max_tokens, threads=args.threads,
                                  model=args.model, workdir=args.dir, progress=_say if args.verbose else lambda _m: None)
    Console().print(format_table(result))
    _write_json(args.out, result.to_json())
    return 0


def _add_stream(bench: Any) -> None:
    p = bench.add_parser("stream", help="time to first token through the network vs the model's own (stream=true)")
    p.add_argument("--prompts", type=int, default=20, help="how many of the 20 fixed prompts (default 20)")
    p.add_argument("--max-tokens", type=int, default=64, help="tokens per answer (default 64)")
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads, direct and in the nodes (default 1)")
    p.add_argument("--model", default="smollm2", help="model profile or .gguf path (default smollm2)")
    p.add_argument("--dir", type=Path, help="keep the testnet's data here (default: a temporary directory)")
    p.add_argument("--out", type=Path, help="write the figures and raw timings as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="print progress")
    p.set_defaults(func=cmd_bench_stream)


# ------------------------------------------------------------------ bench envelope
def cmd_bench_envelope(args: argparse.Namespace) -> int:
    import os

    from peermind.protocol.benchmark import format_table, run_envelope_benchmark

    if not args.seconds > 0:
        raise TestnetError(f"--seconds must be more than 0, got {args.seconds:g}")
    load_start = [round(x, 2) for x in os.getloadavg()]
    result = run_envelope_benchmark(args.seconds)
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(format_table(result))
    # Rates scale with free CPU: the file keeps the load (1/5/15 min) the README must quote beside them.
    print(f"machine load (1/5/15 min) at start {load_start}, at end {load_end} on {os.cpu_count()} CPUs")
    _write_json(args.out, {**result, "loadavg": {"start": load_start, "end": load_end}, "cpus": os.cpu_count() or 0})
    return 0


def _add_envelope(bench: Any) -> None:
    p = bench.add_parser("envelope", help="signed-envelope throughput vs raw Ed25519")
    p.add_argument("--seconds", type=float, default=2.0, help="total measuring time (default 2)")
    p.add_argument("--out", type=Path, help="write the figures as JSON")
    p.set_defaults(func=cmd_bench_envelope)


# ------------------------------------------------------------------ bench eval (testnet/_eval.py)
def cmd_bench_eval(args: argparse.Namespace) -> int:
    import os
    import shlex

    from rich.console import Console

    from ._eval import DEFAULT_DATASETS, DEFAULT_MODES, EvalSettings, rerender, run_eval
    from ._eval_lodo import DEFAULT_LODO_MODES, LodoPlan, parse_steps

    if args.rerender:
        report = rerender(args.out)
        sys.stdout.write(report.files[1].read_text())
        print("rewrote " + ", ".join(str(f) for f in report.files), file=sys.stderr)
        return 0
    datasets = [d.strip() for d in (args.datasets or "").split(",") if d.strip()]
    if not datasets and not args.data:
        datasets = list(DEFAULT_DATASETS)
    settings = EvalSettings(
        datasets=datasets,
        data_files=list(args.data or []),
        limit=args.limit if args.limit and args.limit > 0 else None,
        modes=list(args.mode or (DEFAULT_LODO_MODES if args.protocol == "lodo" else DEFAULT_MODES)),
        api=args.api,
        token=args.token or os.environ.get("PEERMIND_API_TOKEN"),
        nodes=args.nodes,
        profile=args.profile,
        threads=args.threads,
        testnet_dir=args.testnet_dir,
        out=args.out,
        seed=args.seed,
        max_tokens=args.max_tokens,
        timeout_s=args.timeout,
        warmup_s=args.warmup,
        command="peermind " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "",
        protocol=args.protocol,
        lodo=LodoPlan(
            steps=parse_steps(args.lodo_steps),
            seed_pool=[d.strip() for d in (args.seed_datasets or "").split(",") if d.strip()],
            seed_limit=args.seed_limit,
            seed_validation_limit=args.seed_validation_limit,
            feedback_mode=args.feedback_mode,
            refit=args.refit,
        ),
    )
    if args.set:
        settings.node_settings = [*settings.node_settings, *args.set]
    report = run_eval(settings, Console(stderr=True))
    sys.stdout.write(report.files[1].read_text())  # the Markdown report
    sys.stdout.flush()
    print("wrote " + ", ".join(str(f) for f in report.files), file=sys.stderr)
    return 0


def _add_eval(bench: Any) -> None:
    from ._profiles import PROFILES

    p = bench.add_parser(
        "eval",
        help="accuracy, cost and latency of every answering strategy on benchmark data",
        description="Ask real benchmark questions (test split) through a node's API and compare "
        "single models, random, always-strongest, oracle and the network's modes "
        "(route, cascade, vote, moa, auction). Without --api it starts and stops its own testnet.",
    )
    p.add_argument("--api", metavar="HOST:PORT", help="evaluate through this node (default: start an own testnet)")
    p.add_argument("--token", help="API token of that node (default $PEERMIND_API_TOKEN)")
    p.add_argument("--datasets", help="comma-separated: arc_easy,arc_challenge,boolq,sciq,csqa,sst2,gsm8k (default all)")
    p.add_argument("--data", type=Path, action="append", metavar="FILE.jsonl", help="your own items (repeatable; see bench/README.md)")
    p.add_argument("--mode", action="append", metavar="MODE",
                   help="single[:MODEL], random, always-strongest, oracle, route, cascade, vote, moa, auction (repeatable; default all)")
    p.add_argument("--limit", type=int, default=25, help="items per dataset, 0 = all (default 25)")
    p.add_argument("--out", type=Path, default=Path("peermind-eval.json"), help="results JSON; .md, .items.jsonl and .png files go beside it")
    p.add_argument("--seed", type=int, default=0, help="seed of the random-peer baseline")
    p.add_argument("--max-tokens", type=int, default=128, help="generation limit for numeric questions")
    p.add_argument("--timeout", type=float, default=120.0, help="per-question timeout in seconds")
    p.add_argument("--nodes", type=int, default=3, help="own testnet: number of nodes")
    p.add_argument("--profile", choices=PROFILES, default="mix", help="own testnet: profile")
    p.add_argument("--threads", type=int, help="own testnet: llama.cpp threads per node")
    p.add_argument("--testnet-dir", type=Path, help="own testnet: directory (default: a temporary one)")
    p.add_argument("--warmup", type=float, default=0.0, metavar="SECONDS",
                   help="own testnet: let it run idle this long before the first question, so idle learning "
                   "and canaries have labelled rows and proven peers, as on a network that has run a while "
                   "(default 0: a fresh network, whose first answers come from the entry node while its peers "
                   "are on probation)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="own testnet: a node setting (repeatable; default raises trust.request_rate/burst to 50 "
                   "so peers do not throttle the benchmark client)")
    p.add_argument("--rerender", action="store_true",
                   help="rebuild the .md and .png files of an earlier run from --out and its .items.jsonl (no nodes)")
    lodo = p.add_argument_group("leave one dataset out (--protocol lodo)")
    lodo.add_argument("--protocol", choices=("standard", "lodo"), default="standard",
                      help="lodo: for each dataset a fresh testnet whose router is seeded without it, then a learning "
                      "curve over labelled answers to its validation items (default standard)")
    lodo.add_argument("--lodo-steps", default="0,10,20,50", metavar="K,K,...",
                      help="labelled answers seen at which the test items are asked (default 0,10,20,50)")
    lodo.add_argument("--seed-datasets", metavar="A,B,...",
                      help="datasets to seed the router on, minus the held-out one (default: the tested datasets)")
    lodo.add_argument("--seed-limit", type=int, default=30, help="train items per seed dataset (default 30)")
    lodo.add_argument("--seed-validation-limit", type=int, default=15,
                      help="validation items per seed dataset for calibration (default 15)")
    lodo.add_argument("--feedback-mode", default="route", choices=("route", "auto", "cascade"),
                      help="mode the labelled validation questions are asked in (default route)")
    lodo.add_argument("--refit", action="store_true",
                      help="after each batch of labels also re-run the seed, refitting the router's heads")
    p.set_defaults(func=cmd_bench_eval)


# ------------------------------------------------------------------ bench system (testnet/_system.py)
def cmd_bench_system(args: argparse.Namespace) -> int:
    from ._system import SystemSettings, run_system

    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError as exc:
        raise TestnetError(f"--sizes takes testnet sizes separated by commas, e.g. 3,5,10; got {args.sizes!r}") from exc
    if not sizes or min(sizes) < 1:
        raise TestnetError(f"--sizes takes sizes of at least 1 node, got {args.sizes!r}")
    run_system(SystemSettings(sizes=sizes, repeats=args.repeats, envelope_seconds=args.envelope_seconds,
                              out=args.out, testnet_dir=args.testnet_dir, only=args.only))
    return 0


def _add_system(bench: Any) -> None:
    p = bench.add_parser(
        "system",
        help="ad convergence vs N, memory per node, task round-trip overhead, envelope throughput",
        description="System benchmarks on real node processes; each prints a ratio against a "
        "baseline measured in the same run.",
    )
    p.add_argument("--sizes", default="3,5,10,20", help="comma-separated testnet sizes for ad convergence (default 3,5,10,20)")
    p.add_argument("--repeats", type=int, default=20, help="round trips per side (default 20)")
    p.add_argument("--envelope-seconds", type=float, default=2.0, help="envelope benchmark budget (default 2)")
    p.add_argument("--only", choices=("convergence", "roundtrip", "envelope"), action="append",
                   help="run only this part (repeatable)")
    p.add_argument("--out", type=Path, help="also write the figures as JSON here")
    p.add_argument("--testnet-dir", type=Path, help="directory for the benchmark testnets (default: temporary)")
    p.set_defaults(func=cmd_bench_system)


# ------------------------------------------------------------------ bench scale (testnet/_scale.py)
def cmd_bench_scale(args: argparse.Namespace) -> int:
    if args.simulate:
        from ._scale_sim import SimSettings, markdown, simulate

        report = simulate(SimSettings(peers=args.simulate, seed=args.seed, out=args.out))
        sys.stdout.write(markdown(report))
        return 0
    from ._scale import ScaleSettings, run_scale
    from ._scale import markdown as scale_markdown

    report = run_scale(ScaleSettings(models=args.models, light=args.light, idle_s=args.idle_s, out=args.out,
                                     testnet_dir=args.testnet_dir), _say)
    sys.stdout.write(scale_markdown(report))
    return 0


def _add_scale(bench: Any) -> None:
    p = bench.add_parser(
        "scale",
        help="many peers: a testnet of mostly light nodes (convergence, traffic and memory per node), "
             "or --simulate N peers' gossip and DHT",
        description="Runs a baseline testnet (2 model + 1 light node) and then MODELS + LIGHT nodes on this "
                    "machine; reports ad convergence, peer traffic per node (kernel TCP counters), memory "
                    "and idle CPU per node, each next to the baseline's. With --simulate N it runs no nodes: "
                    "it simulates the ads gossip mesh and the DHT of N peers with the node's own ad, board "
                    "and store code.",
    )
    p.add_argument("--models", type=int, default=5, help="model (SmolLM2) nodes in the big testnet (default 5)")
    p.add_argument("--light", type=int, default=45, help="light nodes (--model none) in the big testnet (default 45)")
    p.add_argument("--idle-s", type=float, default=30.0, help="seconds of idle traffic measured per testnet (default 30)")
    p.add_argument("--simulate", type=int, metavar="N", help="simulate N peers instead of running nodes")
    p.add_argument("--seed", type=int, default=0, help="--simulate: random seed (default 0)")
    p.add_argument("--out", type=Path, help="write the figures as JSON here (and a .md beside it)")
    p.add_argument("--testnet-dir", type=Path, help="directory for the benchmark testnets (default: temporary)")
    p.set_defaults(func=cmd_bench_scale)


# ------------------------------------------------------------------ bench trust
def cmd_trust(args: argparse.Namespace) -> int:
    import shlex

    from ._trust_bench import TrustBenchSettings, refigure, run_trust_bench

    if args.refigure:
        refigure(args.out, note=args.note)
        sys.stdout.write(args.out.with_suffix(".md").read_text())
        return 0

    roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    if args.nodes < 2 or args.items < 1 or not roles:  # before a testnet starts or a results file is written
        raise TestnetError(f"bench trust needs --nodes >= 2, --items >= 1 and at least one role; "
                           f"got {args.nodes}, {args.items} and {args.roles!r}")
    if args.newcomer_work_share is not None and not (
            math.isfinite(args.newcomer_work_share) and 0 <= args.newcomer_work_share <= 1):
        raise TestnetError(f"bench trust needs --newcomer-work-share between 0 and 1; got {args.newcomer_work_share}")
    if not (math.isfinite(args.adversary_cpu) and 0 <= args.adversary_cpu <= (os.cpu_count() or 1)):
        raise TestnetError(f"bench trust needs --adversary-cpu between 0 (no cap) and this machine's "
                           f"{os.cpu_count()} cores; got {args.adversary_cpu}")
    settings = TrustBenchSettings(
        nodes=args.nodes, profile=args.profile, adversaries=args.adversaries, roles=roles, dataset=args.dataset, items=args.items,
        entry=args.entry, concurrency=args.concurrency, canary_rate=args.canary_rate,
        cross_check_rate=args.cross_check_rate, flood_rate=args.flood_rate, adversary_nice=args.adversary_nice,
        adversary_cpu=args.adversary_cpu, newcomer_work_share=args.newcomer_work_share,
        contrast=not args.no_contrast, clean=not args.no_clean,
        threads=args.threads, out=args.out, testnet_dir=args.testnet_dir,
        command="peermind " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "",
    )
    run_trust_bench(settings, lambda m: print(m, file=sys.stderr, flush=True))
    sys.stdout.write(settings.out.with_suffix(".md").read_text())
    print(f"wrote {settings.out} and {settings.out.with_suffix('.md')}", file=sys.stderr)
    return 0


def _add_trust(bench: Any) -> None:
    p = bench.add_parser(
        "trust",
        help="adversaries (wrong, garbage, forger, flooder, sybil) in a testnet, trust on vs off",
        description="For each adversary role, start a testnet with honest nodes and adversaries, ask "
        "benchmark questions (test split) through honest nodes, and report accuracy vs a clean network, "
        "after how many interactions each adversary was excluded, false positives, forged messages "
        "rejected and counted, and the flooder's effect on latency. Each scenario runs its own testnet.",
    )
    p.add_argument("--nodes", type=int, default=10, help="nodes per testnet (default 10)")
    p.add_argument("--profile", choices=("small", "mix"), default="small",
                   help="small: SmolLM2 on every node (default); mix: Gemma-3 on every third node "
                   "(adversaries take the last nodes)")
    p.add_argument("--adversaries", type=int, default=2, help="adversaries per scenario (default 2)")
    p.add_argument("--roles", default="wrong,garbage,forger,flooder", help="comma-separated roles: wrong, garbage, forger, flooder, sybil (default the first four)")
    p.add_argument("--dataset", default="arc_easy", help="multiple-choice dataset for the questions (default arc_easy)")
    p.add_argument("--items", type=int, default=200, help="test questions per scenario (default 200)")
    p.add_argument("--entry", type=int, default=2, help="honest nodes the questions go through (default 2)")
    p.add_argument("--concurrency", type=int, default=2, help="questions in flight (default 2)")
    p.add_argument("--canary-rate", type=float, default=0.3, help="trust.canary_rate of the nodes (default 0.3)")
    p.add_argument("--cross-check-rate", type=float, default=0.1, help="trust.cross_check_rate (default 0.1)")
    p.add_argument("--flood-rate", type=float, default=20.0, help="flooder requests per second (default 20)")
    p.add_argument("--adversary-nice", type=int, default=0, choices=range(20), metavar="0-19",
                   help="niceness of adversary processes (default 0). Not a CPU budget: at 19 on a busy "
                   "machine the attacker got 0.003 of a core and no attack happened; see --adversary-cpu")
    p.add_argument("--adversary-cpu", type=float, default=0.5, metavar="CORES",
                   help="cores all adversary processes of a scenario may use together (default 0.5, one "
                   "modest machine's worth among the peers): a cgroup quota where /sys/fs/cgroup is "
                   "writable, else SIGSTOP/SIGCONT at 50 ms periods; what they used is in the results. "
                   "0 = no cap")
    p.add_argument("--newcomer-work-share", type=float, default=None, metavar="SHARE",
                   help="trust.newcomer_work_share of the nodes (default: the node's own, 0.1 while its "
                   "model is contended; 0 = the Sybil defence's work budget off)")
    p.add_argument("--no-contrast", action="store_true", help="skip the trust-off runs")
    p.add_argument("--no-clean", action="store_true",
                   help="skip the clean scenario (the forger, flooder and sybil are measured against the "
                   "no-attack blocks of their own testnet)")
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads per node (default 1)")
    p.add_argument("--out", type=Path, default=Path("docs/results/trust-bench.json"), help="results JSON (.md beside it)")
    p.add_argument("--testnet-dir", type=Path, help="where the testnets live (default: a temporary directory)")
    p.add_argument("--refigure", action="store_true", help="only recompute figures and Markdown of --out")
    p.add_argument("--note", help="with --refigure: a note kept in the results and shown under the Markdown's "
                   "title (e.g. that the file was renamed after its run); the figures are untouched")
    p.set_defaults(func=cmd_trust)


def _add_federated(bench: Any) -> None:
    from .fedbench.cli import add_parser  # federated router benchmark (node/training owner)

    add_parser(bench)


def _add_backend(bench: Any) -> None:
    """LlamaBackend vs a bare create_chat_completion (node/llm owner)."""
    from ._bench_backend import add_parser

    add_parser(bench)


def _add_load(bench: Any) -> None:
    """Concurrent clients against one entry node with 1, 2, 4 serving peers."""
    from ._bench_load import add_parser

    add_parser(bench)


def _add_embed(bench: Any) -> None:
    """MiniLM fp32 vs int8 graph (federated embedder owner)."""
    from ._bench_embed import add_parser

    add_parser(bench)


def _add_collab(bench: Any) -> None:
    """Routing-decision latency and negotiation overhead (node/collab owner)."""
    from ._collab_bench import add_parser

    add_parser(bench)


# ------------------------------------------------------------------ bench coldstart (testnet/_coldstart.py)
def cmd_bench_coldstart(args: argparse.Namespace) -> int:
    import shlex

    from ._coldstart import run_coldstart, write_report

    if args.questions < 1 or args.nodes < 2:  # checked before minutes of testnet start-up
        raise TestnetError(f"coldstart needs --questions >= 1 and --nodes >= 2, got {args.questions} and {args.nodes}")
    result = run_coldstart(nodes=args.nodes, profile=args.profile, warmup_s=args.warmup, questions=args.questions,
                           datasets=tuple(args.datasets.split(",")), adversary=args.adversary or "",
                           directory=args.dir, progress=_say)
    command = "peermind " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    write_report(result, args.out, command)
    print(args.out.with_suffix(".md").read_text())
    return 0


def _add_coldstart(bench: Any) -> None:
    p = bench.add_parser("coldstart", help="a fresh testnet: how soon questions go to peers, and whom trust excludes")
    p.add_argument("--nodes", type=int, default=3, help="nodes (default 3; node-0 is the entry node)")
    p.add_argument("--profile", default="mix", help="testnet profile (default mix: SmolLM2 and Gemma-3)")
    p.add_argument("--warmup", type=float, default=60.0, help="idle seconds after `testnet up` (default 60)")
    p.add_argument("--questions", type=int, default=100, help="route questions to the entry node (default 100)")
    p.add_argument("--datasets", default="arc_easy,sciq,arc_challenge,csqa", help="test splits to draw from, interleaved")
    p.add_argument("--adversary", default="", help="make the last node an adversary of this role (e.g. wrong)")
    p.add_argument("--dir", type=Path, help="testnet directory (default: the testnet default)")
    p.add_argument("--out", type=Path, default=Path("docs/results/coldstart.json"), help="results file (.json; a .md beside it)")
    p.set_defaults(func=cmd_bench_coldstart)


# ------------------------------------------------------------------ bench knowledge (testnet/_knowledge_bench.py)
def cmd_bench_knowledge(args: argparse.Namespace) -> int:
    import shlex

    from ._knowledge_bench import run_knowledge_benchmark, write_report

    if args.per_topic < 1:  # checked before minutes of indexing and testnet start-up
        raise TestnetError(f"--per-topic must be at least 1, got {args.per_topic}")
    result = run_knowledge_benchmark(per_topic=args.per_topic, directory=args.dir, progress=_say)
    write_report(result, args.out, "peermind " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    print(args.out.with_suffix(".md").read_text())
    return 0


def _add_knowledge(bench: Any) -> None:
    p = bench.add_parser("knowledge", help="SciQ with support paragraphs as 3 peers' corpora: single peers, oracle, route, consult")
    p.add_argument("--per-topic", type=int, default=15, help="questions per topic (3 topics; default 15)")
    p.add_argument("--dir", type=Path, help="testnet directory (default: the testnet default)")
    p.add_argument("--out", type=Path, default=Path("docs/results/knowledge.json"), help="results file (.json; a .md beside it)")
    p.set_defaults(func=cmd_bench_knowledge)


SUBCOMMANDS: list[Callable[[Any], None]] = [_add_node, _add_stream, _add_envelope, _add_eval, _add_system, _add_scale, _add_trust, _add_federated,
                                             _add_collab, _add_coldstart, _add_knowledge, _add_backend, _add_load,
                                             _add_embed]


def register(sub: Any) -> None:
    """Add the ``bench`` command group to the ``peermind`` parser."""
    bench = sub.add_parser("bench", help="benchmarks: node overhead, envelopes, ...").add_subparsers(
        dest="bench_cmd", required=True, metavar="SUBCOMMAND"
    )
    for add in SUBCOMMANDS:
        add(bench)


# ------------------------------------------------------------------ bench relay (testnet/_relay_bench.py)
def cmd_bench_relay(args: argparse.Namespace) -> int:
    import shlex

    from ._relay_bench import run_relay_bench, write_report

    command = "peermind " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else ""
    result = run_relay_bench(rounds=args.rounds, max_tokens=args.max_tokens, workdir=args.dir, command=command,
                             progress=_say)
    sys.stdout.write(write_report(result, args.out))
    return 0


def _add_relay(bench: Any) -> None:
    p = bench.add_parser(
        "relay",
        help="latency a circuit relay adds to a question, against the direct path (network namespaces, root)",
        description="Runs a relay, a node reachable only through it (--relay-via) and two askers in separate "
                    "network namespaces: one without a route to the node (relayed), one with a direct link "
                    "(upgraded to direct by DCUtR). Each round asks the same question from both; reports the "
                    "median paired difference and the relayed/direct ratio with 95% bootstrap intervals.",
    )
    p.add_argument("--rounds", type=int, default=20, help="questions asked over each path (default 20)")
    p.add_argument("--max-tokens", type=int, default=4, help="tokens generated per answer (default 4)")
    p.add_argument("--dir", type=Path, help="directory for the nodes' data (default: temporary)")
    p.add_argument("--out", type=Path, default=Path("docs/results/relay.json"),
                   help="results file (.json; a .md beside it; default docs/results/relay.json)")
    p.set_defaults(func=cmd_bench_relay)


SUBCOMMANDS.append(_add_relay)


# ------------------------------------------------------------------ bench identity (trust/identity_cost.py)
def cmd_bench_identity(args: argparse.Namespace) -> int:
    import shlex

    from peermind.trust.identity_cost import format_markdown, measure_identity_cost

    try:
        bits = [int(b) for b in args.bits.split(",")]
    except ValueError as exc:
        raise TestnetError(f"--bits takes whole numbers separated by commas, e.g. 8,12,16; got {args.bits!r}") from exc
    if args.n < 1:
        raise TestnetError(f"--n must be at least 1 identity per difficulty, got {args.n}")
    result = measure_identity_cost(bits, args.n, progress=_say)
    command = "peermind " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else ""
    text = format_markdown(result, command)
    _write_json(args.out, result.to_json())
    if args.out is not None:
        args.out.with_suffix(".md").write_text(text)
    sys.stdout.write(text)
    return 0


def _add_identity(bench: Any) -> None:
    p = bench.add_parser("identity", help="CPU-seconds one identity costs: a fresh key plus the network's proof of work")
    p.add_argument("--bits", default="8,12,16", help="proof-of-work difficulties to measure (default 8,12,16)")
    p.add_argument("--n", type=int, default=40, help="identities minted per difficulty (default 40)")
    p.add_argument("--out", type=Path, help="write the figures as JSON (and a .md beside it)")
    p.set_defaults(func=cmd_bench_identity)


SUBCOMMANDS.append(_add_identity)


# ------------------------------------------------------------------ bench links (testnet/_links_bench.py)
def cmd_bench_links(args: argparse.Namespace) -> int:
    import shlex

    from ._links_bench import DEFAULT_DEGRADE, LinksBenchSettings, run_links_bench

    settings = LinksBenchSettings(
        dataset=args.dataset, split=args.split, items=args.items, warmup=args.warmup, budget_ms=args.budget_ms,
        degrade=tuple(args.degrade or DEFAULT_DEGRADE), nodes=args.nodes, light=args.light, profile=args.profile, threads=args.threads,
        out=args.out, testnet_dir=args.testnet_dir,
        command="peermind " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "",
    )
    settings.links()  # a malformed --degrade fails here, before any node starts
    result = run_links_bench(settings, _say)
    sys.stdout.write(args.out.with_suffix(".md").read_text())
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    return 1 if result.error else 0


def _add_links(bench: Any) -> None:
    p = bench.add_parser(
        "links",
        help="route accuracy, p50/p95 latency and budget_ms kept, on clean vs degraded emulated links",
        description="One testnet behind the link proxy; the same questions go to the last node (a light node "
                    "by default, so every answer crosses a link) with mode=route and "
                    "budget_ms in blocks clean, degraded, degraded, clean (each question under both conditions). "
                    "Reports accuracy (95% CI, n), p50/p95 latency, the share answered within budget_ms, and "
                    "degraded/clean ratios paired by question, with machine load.",
    )
    p.add_argument("--dataset", default="arc_easy", help="multiple-choice dataset (default arc_easy)")
    p.add_argument("--split", default="test", choices=["validation", "test"],
                   help="validation to tune --budget-ms, test for the report (default test)")
    p.add_argument("--items", type=int, default=40, help="questions, each asked clean and degraded (default 40)")
    p.add_argument("--warmup", type=int, default=8, help="uncounted questions first, while the router explores (default 8)")
    p.add_argument("--budget-ms", type=float, default=4000.0, help="budget_ms of every question (default 4000)")
    p.add_argument("--degrade", action="append", metavar="NODE:SETTINGS",
                   help="a degraded link (repeatable; default node-1:rtt=40ms and node-0:bw=2mbit,loss=1%%: "
                        "the cloud peer 40 ms away, the phone peer on 2 Mbit/s with 1%% loss)")
    p.add_argument("--nodes", type=int, default=2, help="model nodes (default 2: SmolLM2 and Gemma-3 with mix)")
    p.add_argument("--light", type=int, default=1, help="light nodes; the last node asks (default 1)")
    p.add_argument("--profile", default="mix", help="testnet profile (default mix: node-1 runs Gemma-3)")
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads per node (default 1)")
    p.add_argument("--out", type=Path, default=Path("docs/results/links.json"),
                   help="results file (.json; a .md beside it; default docs/results/links.json)")
    p.add_argument("--testnet-dir", type=Path, help="where the testnet lives (default: a temporary directory)")
    p.set_defaults(func=cmd_bench_links)


SUBCOMMANDS.append(_add_links)
