"""``peermind bench federated``: reproduce the federated-router table and its companions.

    peermind bench federated                       # quality + poisoning + 3/5/8-node runs, both engines
    peermind bench federated --skip-network        # only the in-process experiments (~1 min)
    peermind bench federated --sizes 3 --engines p2p

The first run scores every item with both models (cached under
$PEERMIND_CACHE/fedbench; ~0.3-0.6 s per item and model on 2 cores).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "results"


def _say(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    logging.getLogger("flwr").setLevel(logging.WARNING)  # Flower logs every round at INFO
    from ._dataset import DATASETS, load_bench_data, split_non_iid
    from ._experiments import Hyper, node_data, poisoning_table, quality_table
    from ._outcomes import MODELS

    started = time.monotonic()
    datasets = tuple(args.datasets.split(",")) if args.datasets else DATASETS
    data = load_bench_data(datasets, train_per_dataset=args.train_items, test_per_dataset=args.test_items,
                           threads=args.threads, progress=_say)
    hyper = Hyper(rounds=args.rounds, local_epochs=args.local_epochs)
    homes = [datasets[i % len(datasets)] for i in range(args.nodes)]
    nodes = node_data(data, split_non_iid(data.train, args.nodes, datasets=datasets, skew=args.skew), homes)
    _say(f"quality: local-only vs federated vs centralised, {args.nodes} nodes")
    result: dict[str, Any] = {
        "setup": {"datasets": list(datasets), "models": list(MODELS), "train_items": len(data.train),
                  "test_items": len(data.test), "nodes": args.nodes, "skew": args.skew,
                  "hyper": hyper.__dict__},
        "quality": quality_table(data, nodes, hyper),
    }
    if not args.skip_poisoning:
        _say(f"poisoning: node {args.attacker} attacks; 5 strategies x (clean + 2 attacks)")
        result["poisoning"] = poisoning_table(data, nodes, hyper, attacker=args.attacker)
    if not args.skip_network:
        from ._network import network_runs

        sizes = [int(s) for s in args.sizes.split(",")]
        engines = args.engines.split(",")

        def parts_for(size: int) -> list[Any]:
            return split_non_iid(data.train, size, datasets=datasets, skew=args.skew)

        workdir = args.dir or Path(tempfile.mkdtemp(prefix="peermind-fedbench-"))
        result["network"] = network_runs(
            data, parts_for, sizes=sizes, engines=engines,
            rounds={"p2p": args.network_rounds, "flower": args.flower_rounds},
            workdir=workdir, progress=_say,
        )
    if not args.skip_network and not args.skip_poisoning:
        from ._network import poisoned_network_run

        workdir = args.dir or Path(tempfile.mkdtemp(prefix="peermind-fedbench-"))
        result["network_poisoning"] = poisoned_network_run(
            data, split_non_iid(data.train, args.nodes, datasets=datasets, skew=args.skew),
            rounds=args.rounds, strategies=["reputation", "fedavg"], workdir=workdir, progress=_say,
        )
    result["command"] = "peermind bench federated " + " ".join(shlex.quote(a) for a in sys.argv[3:])
    result["took_s"] = time.monotonic() - started
    return result


def cmd_federated(args: argparse.Namespace) -> int:
    from ._report import markdown, write_results

    result = run(args)
    json_path, md_path = write_results(result, args.out)
    print(markdown(result))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


def add_parser(bench: Any) -> None:
    p = bench.add_parser("federated", help="federated router: local vs federated vs centralised, poisoning, round times")
    p.add_argument("--datasets", help="comma-separated (default: sst2,boolq,csqa,arc_challenge)")
    p.add_argument("--train-items", type=int, default=150, help="router-train items per dataset (default 150)")
    p.add_argument("--test-items", type=int, default=100, help="test items per dataset (default 100)")
    p.add_argument("--nodes", type=int, default=4, help="nodes in the quality experiments (default 4, one per dataset)")
    p.add_argument("--skew", type=float, default=0.8, help="share of a node's items from its home dataset (default 0.8)")
    p.add_argument("--rounds", type=int, default=30, help="federated rounds in the quality experiments (default 30)")
    p.add_argument("--local-epochs", type=int, default=10, help="local epochs per round (default 10)")
    p.add_argument("--attacker", type=int, default=1, help="index of the poisoning node (default 1)")
    p.add_argument("--skip-poisoning", action="store_true")
    p.add_argument("--skip-network", action="store_true", help="no real node processes")
    p.add_argument("--sizes", default="3,5,8", help="network sizes for round times (default 3,5,8)")
    p.add_argument("--engines", default="p2p,flower", help="engines to time (default p2p,flower)")
    p.add_argument("--network-rounds", type=int, default=5, help="rounds per p2p network run (default 5)")
    p.add_argument("--flower-rounds", type=int, default=2, help="rounds per flower network run (default 2)")
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads when scoring items (default 1)")
    p.add_argument("--dir", type=Path, help="where the testnets live (default: a temporary directory)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"result directory (default {DEFAULT_OUT})")
    p.set_defaults(func=cmd_federated)
