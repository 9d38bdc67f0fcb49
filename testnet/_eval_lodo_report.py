"""Tables, goal checks and the learning-curve plot of a leave-one-dataset-out run (no nodes).

Everything here is recomputed from the per-item records and the run's ``meta``, so
``--rerender`` rebuilds the same files from ``OUT.json`` and ``OUT.items.jsonl``. A network
mode's answers after k labelled answers are stored under ``per_mode["route@k"]``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from peermind.bench import StrategyResult, markdown_table

from ._eval_goals import GoalCheck, goal_checks, goals_markdown
from ._eval_lodo import stage_key
from ._eval_markdown import run_header
from ._eval_outcomes import ItemRecord, Peer
from ._strategies import evaluate_strategies, strongest_model

POOLED = "all"
DEFAULT_MODES = ("route", "auto")  # the goals are checked for these when they were asked


def report_modes(baselines: Sequence[str], network_modes: Sequence[str], steps: Sequence[int]) -> list[str]:
    """Baselines first, then each network mode at every step."""
    return [*baselines, *(stage_key(m, k) for m in network_modes for k in steps)]


def lodo_results(records: Sequence[ItemRecord], peers: Sequence[Peer], meta: dict[str, Any]) -> dict[str, list[StrategyResult]]:
    """Per held-out dataset (and pooled): every baseline and every (mode, step)."""
    modes = report_modes(meta["baselines"], meta["network_modes"], meta["steps"])
    seed = int(meta["seed"])
    datasets = list(meta["datasets"])
    results = {name: evaluate_strategies([r for r in records if r.dataset == name], peers, modes, seed)
               for name in datasets}
    if len(datasets) > 1:
        results[POOLED] = evaluate_strategies(records, peers, modes, seed)
    return results


def lodo_goals(records: Sequence[ItemRecord], peers: Sequence[Peer], meta: dict[str, Any]) -> dict[str, list[GoalCheck]]:
    """Issue 12's goals for each default mode at each step: ``{"route@50": [checks]}``."""
    strongest = strongest_model(peers)
    return {stage_key(m, k): goal_checks(records, stage_key(m, k), strongest, int(meta["seed"]))
            for m in meta["network_modes"] if m in DEFAULT_MODES for k in meta["steps"]}


def _cell(result: StrategyResult | None) -> str:
    if result is None:
        return "–"
    return f"{100 * result.accuracy:.1f} ({100 * result.ci95[0]:.0f}–{100 * result.ci95[1]:.0f})"


def _cost(result: StrategyResult | None) -> str:
    return "–" if result is None or not math.isfinite(result.mean_cost) else f"{result.mean_cost:.4f}"


def curve_table(rows: Sequence[StrategyResult], network_modes: Sequence[str], steps: Sequence[int]) -> list[str]:
    """One row per step: each mode's accuracy % (95% CI) and mean cost."""
    by_mode = {r.mode: r for r in rows}
    head = "| labelled answers seen | " + " | ".join(f"{m} % (95% CI) | {m} cost" for m in network_modes) + " |"
    lines = [head, "|---:|" + "---|---:|" * len(network_modes)]
    for k in steps:
        cells = " | ".join(f"{_cell(by_mode.get(stage_key(m, k)))} | {_cost(by_mode.get(stage_key(m, k)))}"
                           for m in network_modes)
        lines.append(f"| {k} | {cells} |")
    baselines = [r for r in rows if "@" not in r.mode]
    lines += ["", "Same items, asked once (independent of the router): "
              + "; ".join(f"{r.mode} {_cell(r)}, cost {_cost(r)}" for r in baselines) + "."]
    return lines


def render_lodo_markdown(records: Sequence[ItemRecord], results: dict[str, list[StrategyResult]],
                         goals: dict[str, list[GoalCheck]], meta: dict[str, Any], files: Sequence[str]) -> str:
    steps, network_modes = list(meta["steps"]), list(meta["network_modes"])
    lodo = meta["lodo"]
    lines = run_header(meta, "peermind evaluation: leave-one-dataset-out", "test items per dataset")
    if meta.get("partial"):
        lines += [f"**Partial run: {meta['partial']}.**", ""]
    lines += [
        "For each held-out dataset a fresh testnet "
        f"({meta.get('testnet', {}).get('nodes', '?')} nodes, profile {meta.get('testnet', {}).get('profile', '?')}) "
        f"is started and its router seeded (`router seed`, {lodo['plan']['seed_limit']} train and "
        f"{lodo['plan']['seed_validation_limit']} validation items per dataset) on the other datasets only "
        "(ARC-Easy and ARC-Challenge are held out together); canaries come from those datasets too. "
        f"Then answers to the held-out dataset's VALIDATION items, asked in `{lodo['plan']['feedback_mode']}` mode, are "
        "marked right or wrong with `POST /peermind/feedback` until k labelled answers have reached the router"
        + (" (after each batch the same seed is run again, which refits the router on every labelled row)"
           if lodo['plan']['refit'] else " (no refit: only the node's own online use of the rows)")
        + "; at each k the TEST items are asked in every network mode. Test items are never labelled.",
        "",
        meta["scoring"] + ".",
        "",
        "## Learning curves",
        "",
    ]
    for name in meta["datasets"]:
        held = lodo["per_dataset"].get(name, {})
        rows = results.get(name, [])
        n = rows[0].n if rows else 0
        labelled = len(held.get("feedback", []))
        lines += [f"### {name} (n={n}; router seeded on {', '.join(held.get('seeded_on', []))}; "
                  f"{labelled} labelled answers given)", ""]
        lines += curve_table(rows, network_modes, steps) + [""]
        lines += [f"Note: {note}" for note in held.get("notes", [])]
    if POOLED in results:
        rows = results[POOLED]
        lines += [f"### All held-out datasets pooled (n={rows[0].n if rows else 0})", ""]
        lines += curve_table(rows, network_modes, steps) + [""]
    if goals:
        final = max(steps)
        lines += ["## Goals of issue 12", "",
                  f"Verdicts at the last step (k = {final} labelled answers per dataset); a verdict whose interval "
                  "straddles the threshold is marked inside the noise. Per dataset: the paired 95% interval of "
                  "(mode - best single model on the same items); pooled: seeded bootstrap over items.", ""]
        for key, checks in goals.items():
            if key.endswith(f"@{final}"):
                lines += goals_markdown(f"{key.split('@')[0]} after {final} labelled answers", checks)
        earlier = [(key, checks) for key, checks in goals.items() if not key.endswith(f"@{final}")]
        if earlier:
            lines += ["Earlier steps (met / checked, PGR not counted): " + "; ".join(
                f"{key} {sum(c.met is True for c in checks)}/{sum(c.met is not None for c in checks)}"
                for key, checks in earlier) + ".", ""]
    lines += ["## Every strategy", ""]
    for name in ([POOLED] if POOLED in results else []) + list(meta["datasets"]):
        rows = results.get(name, [])
        title = "All held-out datasets pooled" if name == POOLED else name
        lines += [f"### {title} (n={rows[0].n if rows else 0})", "", markdown_table(rows).rstrip(), ""]
    lines += ["`mode@k`: that network mode after k labelled answers on the held-out dataset. Oracle: right when "
              "any model is right (an upper bound). Always-strongest: the model with the most parameters.", "",
              "Files: " + ", ".join(f"`{f}`" for f in files), ""]
    return "\n".join(lines)


def plot_learning_curves(results: dict[str, list[StrategyResult]], network_modes: Sequence[str],
                         steps: Sequence[int], path: Path) -> Path:
    """Accuracy (95% CI bars) against labelled answers seen, one panel per held-out dataset;
    single models and always-strongest as horizontal lines (they do not depend on k)."""
    names = list(results)
    cols = min(3, len(names)) or 1
    rows_n = math.ceil(len(names) / cols) or 1
    figure = Figure(figsize=(4.2 * cols, 3.6 * rows_n), layout="constrained")
    for i, name in enumerate(names):
        axes = figure.add_subplot(rows_n, cols, i + 1)
        by_mode = {r.mode: r for r in results[name]}
        shift = 0.015 * (max(steps) or 1)  # side by side, so the modes' CI bars do not hide each other
        for j, mode in enumerate(network_modes):
            points = [(k, by_mode[stage_key(mode, k)]) for k in steps if stage_key(mode, k) in by_mode]
            if not points:
                continue
            xs = [k + (j - (len(network_modes) - 1) / 2) * shift for k, _r in points]
            ys = [100 * r.accuracy for _k, r in points]
            err = [[y - 100 * r.ci95[0] for y, (_k, r) in zip(ys, points, strict=True)],
                   [100 * r.ci95[1] - y for y, (_k, r) in zip(ys, points, strict=True)]]
            axes.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=mode, color=f"C{j}")
        baselines = [r for r in results[name] if r.mode.startswith("single:") or r.mode == "always-strongest"]
        for j, r in enumerate(baselines):
            dotted = r.mode == "always-strongest"
            axes.axhline(100 * r.accuracy, linestyle=":" if dotted else "--", linewidth=1.2,
                         color="black" if dotted else f"C{len(network_modes) + j}", label=f"{r.mode} {100 * r.accuracy:.0f}%")
        axes.set_xticks(list(steps))
        n = results[name][0].n if results[name] else 0
        axes.set_title(f"{'pooled' if name == POOLED else name} (n={n})", fontsize=9)
        axes.set_xlabel("labelled answers seen", fontsize=8)
        axes.set_ylabel("accuracy (%)", fontsize=8)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=6)
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    path.write_bytes(buffer.getvalue())
    return path
