"""``peermind bench embed``: MiniLM's fp32 graph against an int8 copy, the routing decision's cost.

The routing decision is the query's MiniLM forward pass (docs/results/collab-decision-steps.md).
An int8 graph (onnxruntime dynamic quantisation of the exported fp32 graph, made offline) is
cheaper, but moves the vectors that stored rows, router heads and knowledge centroids were made
with; this measures both sides of that trade on benchmark questions (validation splits), in
this process, one thread each, with the machine's load noted. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from .errors import TestnetError

DATASETS = ("arc_easy", "arc_challenge", "sciq", "csqa")


def questions(count: int) -> list[str]:
    """``count`` validation prompts, the datasets interleaved (what routing embeds for a question)."""
    from peermind.bench import load_items, mc_context

    pools = [[mc_context(i) for i in load_items(name, "validation", limit=count)] for name in DATASETS]
    mixed = [pool[k] for k in range(count) for pool in pools if k < len(pool)]
    return mixed[:count]


def markdown(result: dict[str, Any]) -> str:
    r = result["embed"]
    lo, hi = r["ratio_p50_ci95"]
    return "\n".join([
        "# MiniLM forward pass: fp32 graph vs int8 copy (onnxruntime, 1 thread)",
        "",
        f"Command: `{result['command']}`",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| texts (validation prompts of {', '.join(DATASETS)}) | {r['n']} |",
        f"| fp32 graph, p50 ms per query | {r['fp32_ms_p50']} |",
        f"| int8 graph, p50 ms per query | {r['int8_ms_p50']} |",
        f"| int8 / fp32, per-text p50 (95% CI) | {r['ratio_p50']} ({lo}-{hi}) |",
        f"| cosine of a text's two vectors, min / p50 | {r['cosine_min']} / {r['cosine_p50']} |",
        f"| nearest other text kept (int8 query vs fp32 rows) | {100 * r['nearest_neighbour_kept']:.1f}% |",
        "",
        f"Machine load (1/5/15 min, {result['cpus']} cores) at start {result['loadavg']['start']}, "
        f"at end {result['loadavg']['end']}.",
        "",
    ])


def cmd_bench_embed(args: argparse.Namespace) -> int:
    from peermind.federated.benchmark import compare_int8_graph

    if args.texts < 2:  # before any model loads or a results file is written
        raise TestnetError(f"--texts must be at least 2, got {args.texts}")
    start = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {"embed": compare_int8_graph(questions(args.texts))}
    result.update(loadavg={"start": start, "end": [round(x, 2) for x in os.getloadavg()]}, cpus=os.cpu_count(),
                  command="peermind " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


def add_parser(bench: Any) -> None:
    p = bench.add_parser("embed", help="MiniLM's fp32 graph vs an int8 copy: time per query and how far the vectors move")
    p.add_argument("--texts", type=int, default=200, help="validation prompts to embed (default 200)")
    p.add_argument("--out", type=Path, default=Path("docs/results/embed-int8.json"), help="results JSON (.md beside it)")
    p.set_defaults(func=cmd_bench_embed)
