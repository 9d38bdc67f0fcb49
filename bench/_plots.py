"""Accuracy-vs-cost and latency plots as PNG files.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot): no global
state, no display, safe to call from any process or worker. matplotlib is imported
when a plot is drawn, not with the package: every node daemon imports ``peermind.bench``
(idle learning reads its items) and would otherwise carry ~29 MB of matplotlib it never uses.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._cache import write_atomic
from ._reports import StrategyResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(7, 4.5))


def _save(figure: Figure, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())
    return path


def plot_accuracy_vs_cost(results: Sequence[StrategyResult], path: str | Path, title: str = "") -> Path:
    """Accuracy (with 95% CI bars) against mean cost, one labelled point per strategy.

    As in RouteLLM's plots, a dotted line joins the cheapest and the dearest
    single-model points: what randomly mixing those two models would achieve,
    the baseline a router has to beat.
    """
    figure = _figure()
    axes = figure.add_subplot()
    shown = [r for r in results if math.isfinite(r.mean_cost) and math.isfinite(r.accuracy)]
    for r in shown:
        y = 100 * r.accuracy
        yerr = [[max(0.0, y - 100 * r.ci95[0])], [max(0.0, 100 * r.ci95[1] - y)]]
        marker = "s" if r.mode.startswith("single:") else "o"
        axes.errorbar([r.mean_cost], [y], yerr=yerr, fmt=marker, capsize=4, markersize=7)
        axes.annotate(r.mode, (r.mean_cost, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    singles = sorted((r for r in shown if r.mode.startswith("single:")), key=lambda r: r.mean_cost)
    if len(singles) >= 2:
        cheap, dear = singles[0], singles[-1]
        axes.plot(
            [cheap.mean_cost, dear.mean_cost],
            [100 * cheap.accuracy, 100 * dear.accuracy],
            linestyle=":",
            color="grey",
            label="random mix of cheapest and dearest model",
        )
        axes.legend(fontsize=8, loc="lower right")
    if not shown:
        axes.text(0.5, 0.5, "no results", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("mean cost per query")
    axes.set_ylabel("accuracy (%)")
    axes.set_title(title or "Accuracy vs cost (95% Wilson intervals)")
    axes.grid(True, alpha=0.3)
    return _save(figure, path)


def plot_latency(latencies_by_mode: Mapping[str, Sequence[float]], path: str | Path, title: str = "") -> Path:
    """Empirical CDF of latency per strategy, with the p50 and p95 levels marked."""
    figure = _figure()
    axes = figure.add_subplot()
    drawn = 0
    positive = [v for values in latencies_by_mode.values() for v in values if v > 0]
    for mode, values in latencies_by_mode.items():
        ordered = sorted(float(v) for v in values)
        if not ordered:
            continue
        fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
        axes.step(ordered, fractions, where="post", label=f"{mode} (n={len(ordered)})")
        drawn += 1
    if drawn:
        for level in (0.5, 0.95):
            axes.axhline(level, linestyle=":", color="grey", linewidth=0.8)
        axes.legend(fontsize=8, loc="lower right")
        if positive and max(positive) / min(positive) > 100:
            axes.set_xscale("log")
    else:
        axes.text(0.5, 0.5, "no latencies", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("latency (ms)")
    axes.set_ylabel("fraction of queries answered")
    axes.set_ylim(0, 1.02)
    axes.set_title(title or "Latency CDF per strategy (dotted: p50, p95)")
    axes.grid(True, alpha=0.3)
    return _save(figure, path)
