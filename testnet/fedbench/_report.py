"""The benchmark's result files: one JSON with everything, one Markdown page with the tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def markdown(result: dict[str, Any]) -> str:
    q = result["quality"]
    setup = result["setup"]
    lines = [
        "# Federated router benchmark (`peermind bench federated`)",
        "",
        f"Data: {setup['train_items']} router-train items and {setup['test_items']} test items from "
        f"{', '.join(setup['datasets'])}; each item scored by {', '.join(setup['models'])} "
        "(zero-shot, length-normalised log-likelihood of each choice, as the nodes score). "
        f"{setup['nodes']} nodes, non-IID: each holds {int(100 * setup['skew'])}% of its items from one "
        f"home dataset. Router: logistic head per model on MiniLM embeddings; {setup['hyper']['rounds']} "
        f"rounds x {setup['hyper']['local_epochs']} local epochs (local-only and centralised routers get "
        "the same number of gradient steps). Scores are on the test split, which no router saw.",
        "",
        "*choice accuracy*: the router picked a model that answers correctly, among test items that "
        "at least one model answers correctly. *end-task accuracy*: the routed answer is right, over all test items.",
        "",
        "| router | choice accuracy % | end-task accuracy % |",
        "|---|---:|---:|",
    ]
    for name, s in q["references"].items():
        lines.append(f"| {name} | {_pct(s['choice_accuracy'])} | {_pct(s['end_task_accuracy'])} |")
    for entry in q["local_only"]:
        lines.append(f"| (a) local-only, node {entry['node']} (home {entry['home']}, {entry['items']} items) | "
                     f"{_pct(entry['choice_accuracy'])} | {_pct(entry['end_task_accuracy'])} |")
    med = q["local_only_median"]
    lines.append(f"| (a) local-only, median node | {_pct(med['choice_accuracy'])} | {_pct(med['end_task_accuracy'])} |")
    lines.append(f"| **(b) federated, FedAvg** | **{_pct(q['federated']['choice_accuracy'])}** | "
                 f"**{_pct(q['federated']['end_task_accuracy'])}** |")
    lines.append(f"| (c) centralised (pooled rows) | {_pct(q['centralised']['choice_accuracy'])} | "
                 f"{_pct(q['centralised']['end_task_accuracy'])} |")
    g = q["goals"]
    lines += [
        "",
        f"Federated - centralised: {g['federated_vs_centralised_choice_points']:+.2f} points choice accuracy "
        f"({g['federated_vs_centralised_end_task_points']:+.2f} end-task; goal: within 1). "
        f"Federated - median local-only: {g['federated_vs_median_local_choice_points']:+.2f} points "
        f"({g['federated_vs_median_local_end_task_points']:+.2f} end-task; goal: at least +3).",
        "",
    ]
    p = result.get("poisoning")
    if p:
        attacks = p["attacks"]
        lines += [
            f"## One poisoned node ({p['attacker']}), choice accuracy % on the test split",
            "",
            "| strategy | clean | " + " | ".join(attacks) + " |",
            "|---|---:|" + "---:|" * len(attacks),
        ]
        for row in p["strategies"]:
            cells = [_pct(row["clean"]["choice_accuracy"])]
            for a in attacks:
                cells.append(f"{_pct(row[a]['choice_accuracy'])} ({-row[f'{a} drop (choice points)']:+.1f})")
            lines.append(f"| {row['strategy']} | " + " | ".join(cells) + " |")
        w = p["without_attacker"]
        lines += [
            f"| *reference: FedAvg over the honest nodes only* | {_pct(w['choice_accuracy'])} | | |",
            "",
            "The attacker's own rows (mostly one dataset) never arrive honestly, so FedAvg without the "
            "attacker is the best any defence can reach. Every node as the attacker (scaled attack, "
            "choice accuracy %):",
            "",
            "| attacker (home) | FedAvg attacked | reputation attacked (attacker scored 0.05) | without the attacker |",
            "|---|---:|---:|---:|",
        ]
        for r in p["by_attacker_position"]:
            lines.append(f"| {r['attacker']} ({r['home']}) | {_pct(r['fedavg'])} | {_pct(r['reputation'])} | "
                         f"{_pct(r['without_attacker'])} |")
        lines.append("")
    pn = result.get("network_poisoning")
    if pn:
        lines += [
            f"Real processes ({pn['nodes']} nodes, engine p2p, {pn['rounds']} rounds), {pn['attacker']} running the "
            "`poisoner` adversary role (-10·w + 5); reputation from the coordinator's trust module, learning "
            "from the rounds' `update_outlier` evidence. Runs in this order:",
            "",
            "| strategy | choice accuracy % | end-task % | attacker's update scale (mean / last) | rounds excluded |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in pn["runs"]:
            s = r["federated_router"]
            lines.append(f"| {r['strategy']} | {_pct(s['choice_accuracy'])} | {_pct(s['end_task_accuracy'])} | "
                         f"{_num(r['attacker_mean_scale'])} / {_num(r['attacker_last_scale'])} | "
                         f"{r['attacker_rounds_excluded']} of {pn['rounds']} |")
        lines.append("")
    n = result.get("network")
    if n:
        lines += [
            "## Real node processes on loopback (SmolLM2 nodes, threads 1, shared 2-core machine)",
            "",
            "| engine | nodes | rounds | mean round s | run wall s (incl. set-up) | node RSS MiB (median) | "
            "node + its Flower processes RSS MiB (median) | federated choice acc % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in n:
            lines.append(
                f"| {r['engine']} | {r['nodes']} | {r['rounds']} | {r['mean_round_s']} | {r['run_wall_s']} | "
                f"{r['node_rss_mb_median']} | {r['node_with_flower_rss_mb_median']} | "
                f"{_pct(r['federated_router']['choice_accuracy'])} |"
            )
        lines.append("")
    lines += [f"Command: `{result['command']}`; took {result['took_s']:.0f} s.", ""]
    return "\n".join(lines)


def write_results(result: dict[str, Any], out_dir: Path, stem: str = "federated") -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    md_path = out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(result, indent=2))
    md_path.write_text(markdown(result))
    return json_path, md_path
