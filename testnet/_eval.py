"""``peermind bench eval``: accuracy, cost and latency of every answering strategy.

The harness talks to the network only through a node's public API (``NodeClient``),
as a user would: against ``--api HOST:PORT`` if given, otherwise against a testnet it
starts and stops itself. Each (item, model) is asked once with the peer pinned; the
single-model, random, always-strongest and oracle baselines are derived from those
answers (see ``_strategies``); the network's own modes (route, cascade, vote, moa)
are asked through the node's ``mode`` field. Test split only: it is for reports.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from peermind.bench import (
    DATASETS,
    BenchError,
    Item,
    StrategyResult,
    ensure_data,
    load_items,
    load_jsonl,
    markdown_table,
    plot_accuracy_vs_cost,
    plot_latency,
    write_results_json,
)
from peermind.node.client import ClientError, NodeClient
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ._eval_ask import UnsupportedMode, ask_item
from ._eval_goals import GoalCheck, goal_checks, goals_markdown
from ._eval_lodo import HeldOutRun, LodoPlan, run_lodo
from ._eval_markdown import run_header
from ._eval_outcomes import ItemRecord, Outcome, Peer
from ._launcher import Testnet
from ._profiles import BENCH_NODE_SETTINGS, set_args
from ._strategies import BASELINES, evaluate_strategies, strongest_model
from .errors import EvalError

NETWORK_MODES = ("route", "cascade", "vote", "moa", "auction", "auto")
DEFAULT_MODES = ("single", "random", "always-strongest", "oracle", "route", "cascade", "vote", "moa", "auction")
DEFAULT_DATASETS = ("arc_easy", "arc_challenge", "boolq", "sciq", "csqa", "sst2", "gsm8k")
POOLED = "all"
PROTOCOLS = ("standard", "lodo")
GOAL_MODES = ("route", "auto")  # the "default mode" of issue 12's goals


SCORING = ("multiple choice: length-normalised log-likelihood of each choice (/peermind/score); "
           "numeric: last number of the generated text (/peermind/ask); cost: the node's figure, "
           "advertised cost_per_1k x tokens; latency: wall time of the API call at the client")


@dataclass
class EvalSettings:
    datasets: list[str] = field(default_factory=lambda: list(DEFAULT_DATASETS))
    data_files: list[Path] = field(default_factory=list)
    limit: int | None = 25
    modes: list[str] = field(default_factory=lambda: list(DEFAULT_MODES))
    api: str | None = None
    token: str | None = None
    nodes: int = 3
    profile: str = "mix"
    threads: int | None = None
    testnet_dir: Path | None = None
    out: Path = Path("peermind-eval.json")
    seed: int = 0
    max_tokens: int = 128
    timeout_s: float = 120.0
    warmup_s: float = 0.0  # own testnet: idle seconds before the first question
    split: str = "test"
    command: str = ""
    node_settings: list[str] = field(default_factory=lambda: list(BENCH_NODE_SETTINGS))  # own testnet only
    protocol: str = "standard"  # or "lodo": leave one dataset out (see _eval_lodo)
    lodo: LodoPlan = field(default_factory=LodoPlan)


@dataclass
class EvalReport:
    peers: list[Peer]
    evaluated_on: dict[str, str]  # model -> peer ID that answered its single-model questions
    records: list[ItemRecord]
    results: dict[str, list[StrategyResult]]  # dataset (and POOLED) -> results
    skipped: dict[str, str]  # mode -> why
    meta: dict[str, Any]
    files: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------ inputs
def load_eval_items(settings: EvalSettings, say: Callable[[str], None]) -> dict[str, list[Item]]:
    """Items per dataset name: benchmark test splits and users' own JSONL files."""
    items: dict[str, list[Item]] = {}
    if settings.split != "test":
        say(f"note: split {settings.split!r} — report results on the test split only")
    try:
        if settings.datasets:
            unknown = [d for d in settings.datasets if d not in DATASETS]
            if unknown:
                raise EvalError(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
            ensure_data(progress=say)
            for name in settings.datasets:
                items[name] = load_items(name, settings.split, limit=settings.limit)
        for path in settings.data_files:
            loaded = load_jsonl(path)
            items[path.stem] = loaded[: settings.limit] if settings.limit is not None else loaded
    except BenchError as exc:
        raise EvalError(str(exc)) from exc
    empty = [k for k, v in items.items() if not v]
    if not items or empty:
        raise EvalError(f"no items to evaluate ({', '.join(empty) or 'no datasets given'})")
    return items


def discover_peers(client: NodeClient) -> list[Peer]:
    """The entry node and every peer with a fresh ad, entry first."""
    status = client.status()
    own = status["model"]
    peers = [Peer(status["peer_id"], own["name"], float(own.get("params_m") or 0), float(own.get("cost_per_1k") or 0), True)]
    for ad in sorted(client.peers(), key=lambda a: a["peer_id"]):
        model = (ad.get("models") or [{}])[0]
        peers.append(Peer(ad["peer_id"], str(model.get("name", "?")), float(model.get("params_m") or 0),
                          float(ad.get("cost_per_1k") or 0)))
    return peers


def check_mode_names(requested: Sequence[str]) -> None:
    """Every requested mode is one the harness knows (which models exist is checked once peers are known)."""
    for mode in requested:
        if not (mode == "single" or mode.startswith("single:") or mode in BASELINES or mode in NETWORK_MODES):
            raise EvalError(f"unknown mode {mode!r}; use single[:MODEL], {', '.join(BASELINES)}, {', '.join(NETWORK_MODES)}")


def resolve_modes(requested: Sequence[str], peers: Sequence[Peer]) -> tuple[list[str], list[str], list[str]]:
    """(all modes in report order, models to ask with a pinned peer, network modes to ask)."""
    models = list(dict.fromkeys(p.model for p in peers))
    modes: list[str] = []
    for mode in requested:
        if mode == "single":
            modes += [f"single:{m}" for m in models]
        elif mode.startswith("single:"):
            if mode.split(":", 1)[1] not in models:
                raise EvalError(f"{mode}: no peer serves that model; the network has {', '.join(models)}")
            modes.append(mode)
        else:
            check_mode_names([mode])
            modes.append(mode)
    modes = list(dict.fromkeys(modes))
    needed: list[str] = []
    if any(m in ("random", "oracle") for m in modes):
        needed = models
    else:
        if "always-strongest" in modes:
            needed.append(strongest_model(peers))
        needed += [m.split(":", 1)[1] for m in modes if m.startswith("single:")]
    needed = [m for m in models if m in needed]
    return modes, needed, [m for m in modes if m in NETWORK_MODES]


# ------------------------------------------------------------------ run
def run_eval(settings: EvalSettings, console: Console | None = None) -> EvalReport:
    """Evaluate, write the JSON/Markdown/PNG reports next to ``settings.out``, return the report."""
    console = console or Console(stderr=True)
    say: Callable[[str], None] = lambda m: console.print(f"  {m}")  # noqa: E731
    check_mode_names(settings.modes)  # a typo fails here, before data, nodes or minutes are spent
    check_warmup(settings)
    items = load_eval_items(settings, say)
    started = time.monotonic()
    load_start, started_at = _load_average(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if settings.protocol == "lodo":
        report = _lodo(settings, items, console)
    elif settings.api:
        report = _evaluate(settings, settings.api, items, console)
    else:
        report = _with_own_testnet(settings, items, console, say)
    report.meta["wall_s"] = round(time.monotonic() - started, 1)
    report.meta["load_start"], report.meta["load_end"] = load_start, _load_average()
    report.meta["started_at"] = started_at
    report.meta["code"] = _code_version()
    report.files = write_reports(report, settings.out)
    return report


def check_warmup(settings: EvalSettings) -> None:
    """``--warmup`` is idle time of the evaluation's own (standard) testnet: a typed error otherwise."""
    if not math.isfinite(settings.warmup_s) or settings.warmup_s < 0:
        raise EvalError(f"--warmup must be a number of seconds >= 0, not {settings.warmup_s}")
    if settings.warmup_s > 0 and (settings.api or settings.protocol != "standard"):
        raise EvalError("--warmup lets the evaluation's own testnet run idle first; it has no meaning with "
                        "--api (that network has already run) or --protocol lodo (each held-out run seeds a "
                        "fresh testnet)")


def as_stored(records: list[ItemRecord]) -> list[ItemRecord]:
    """The records as the per-item file keeps them (costs and latencies rounded), so a
    report's figures are exactly those ``--rerender`` rebuilds from that file."""
    return [ItemRecord.from_json(r.to_json()) for r in records]


def _code_version() -> str | None:
    """``git describe --always --dirty`` of the checkout the nodes ran from (None outside git)."""
    import subprocess

    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _load_average() -> float | None:
    """The 1-minute load average (machine load is reported next to every figure)."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _lodo(settings: EvalSettings, items: dict[str, list[Item]], console: Console) -> EvalReport:
    """Leave one dataset out: a fresh testnet per held-out dataset (see ``_eval_lodo``)."""
    if settings.api:
        raise EvalError("--protocol lodo starts a fresh testnet for every held-out dataset (a used router "
                        "cannot forget a dataset); drop --api")
    unknown = [d for d in settings.lodo.seed_pool if d not in DATASETS]
    if unknown:
        raise EvalError(f"unknown seed dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    non_mc = [name for name, its in items.items() if any(it.kind != "mc" for it in its)]
    if non_mc:
        raise EvalError(f"--protocol lodo needs multiple-choice datasets (the router is seeded on them); "
                        f"not: {', '.join(non_mc)}")

    def directory_for(dataset: str) -> tuple[Path, bool]:
        if settings.testnet_dir is None:
            return Path(tempfile.mkdtemp(prefix=f"peermind-lodo-{dataset}-")), True
        return settings.testnet_dir / dataset, False

    resolved: dict[str, list[str]] = {}

    def resolve(peers: list[Peer]) -> tuple[list[str], list[str], list[str]]:
        modes, _models, network_modes = resolve_modes(settings.modes, peers)
        models = list(dict.fromkeys(p.model for p in peers))  # every model: oracle and best single need all
        resolved.update(modes=modes, network_modes=network_modes)
        return modes, models, network_modes

    def write_partial(runs: list[HeldOutRun]) -> None:
        if len(runs) < len(items):
            report = lodo_report(settings, {run.dataset: len(items[run.dataset]) for run in runs}, runs,
                                 resolved["modes"], resolved["network_modes"])
            report.meta["partial"] = f"{len(runs)} of {len(items)} held-out datasets done"
            write_reports(report, settings.out)
            console.print(f"  partial results ({report.meta['partial']}) in {settings.out}")

    runs = run_lodo(items, settings.lodo, nodes=settings.nodes, profile=settings.profile, threads=settings.threads,
                    node_settings=settings.node_settings, testnet_dir_for=directory_for, resolve=resolve,
                    discover=discover_peers, token=settings.token, max_tokens=settings.max_tokens,
                    timeout_s=settings.timeout_s, console=console, on_done=write_partial)
    return lodo_report(settings, {name: len(v) for name, v in items.items()}, runs,
                       resolved["modes"], resolved["network_modes"])


def lodo_report(settings: EvalSettings, counts: dict[str, int], runs: list[HeldOutRun], modes: list[str],
                network_modes: list[str]) -> EvalReport:
    """The report of held-out runs: records, figures and everything ``--rerender`` needs in meta."""
    from ._eval_lodo_report import lodo_results

    records = as_stored([r for run in runs for r in run.records])
    peers = runs[0].peers
    meta: dict[str, Any] = {
        "protocol": "lodo",
        "command": settings.command,
        "split": settings.split,
        "limit": settings.limit,
        "seed": settings.seed,
        "datasets": counts,
        "baselines": [m for m in modes if m not in network_modes],
        "network_modes": network_modes,
        "steps": list(settings.lodo.steps),
        "peers": [asdict(p) for p in peers],
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "testnet": {"nodes": settings.nodes, "profile": settings.profile, "threads": settings.threads,
                    "node_settings": settings.node_settings},
        "lodo": {"plan": asdict(settings.lodo), "per_dataset": {run.dataset: run.meta() for run in runs}},
        "scoring": SCORING,
    }
    return EvalReport(peers, {}, records, lodo_results(records, peers, meta), {}, meta)


def _with_own_testnet(settings: EvalSettings, items: dict[str, list[Item]], console: Console,
                      say: Callable[[str], None]) -> EvalReport:
    own_dir = settings.testnet_dir is None
    directory = settings.testnet_dir or Path(tempfile.mkdtemp(prefix="peermind-eval-"))
    net = Testnet(directory)
    console.print(f"starting a {settings.nodes}-node testnet ({settings.profile}) in {net.dir}")
    ok = False
    try:
        nodes = net.up(settings.nodes, profile=settings.profile, threads=settings.threads, progress=say,
                       extra_args=set_args(settings.node_settings))
        if settings.warmup_s > 0:
            console.print(f"letting the testnet run idle for {settings.warmup_s:.0f} s (--warmup): idle learning "
                          "and canaries label rows and prove peers")
            time.sleep(settings.warmup_s)
        report = _evaluate(settings, nodes[0].api, items, console)
        report.meta["testnet"] = {"nodes": settings.nodes, "profile": settings.profile, "threads": settings.threads,
                                  "node_settings": settings.node_settings, "warmup_s": settings.warmup_s}
        ok = True
        return report
    finally:
        stopped = net.down()
        console.print(f"stopped the evaluation testnet ({stopped} processes)")
        if own_dir and ok:
            shutil.rmtree(directory, ignore_errors=True)
        elif own_dir:
            console.print(f"node logs kept in {directory}")


def _evaluate(settings: EvalSettings, api: str, items: dict[str, list[Item]], console: Console) -> EvalReport:
    with NodeClient(api, token=settings.token, timeout_s=settings.timeout_s + 30) as client:
        try:
            peers = discover_peers(client)
        except ClientError as exc:
            raise EvalError(f"cannot evaluate through {api}: {exc}") from exc
        modes, models, network_modes = resolve_modes(settings.modes, peers)
        on_peer = {m: next(p for p in peers if p.model == m) for m in models}
        peer_models = {p.peer_id: p.model for p in peers}
        console.print(
            f"evaluating through {client.base_url}: {len(peers)} peers ("
            + ", ".join(f"{p.model}@{p.peer_id[-6:]}" for p in peers) + f"); modes {', '.join(modes)}"
        )
        skipped: dict[str, str] = {}
        records: list[ItemRecord] = []
        total_items = sum(len(v) for v in items.values())
        log_every = max(1, total_items // 20)  # progress lines when stderr is a log file, not a terminal
        started = time.monotonic()
        calls_per_item = len(models) + len(network_modes)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("evaluating", total=total_items * calls_per_item)
            for dataset, dataset_items in items.items():
                right: dict[str, int] = {}
                for index, item in enumerate(dataset_items, 1):
                    record = ItemRecord(item.id, dataset, item.kind, len(item.choices or ()))
                    for model in models:
                        outcome = ask_item(client, item, peer=on_peer[model], max_tokens=settings.max_tokens,
                                           timeout_s=settings.timeout_s, peer_models=peer_models)
                        record.per_model[model] = outcome
                        right[model] = right.get(model, 0) + outcome.correct
                        progress.advance(task)
                    for mode in network_modes:
                        if mode in skipped:
                            continue
                        try:
                            outcome = ask_item(client, item, mode=mode, max_tokens=settings.max_tokens,
                                               timeout_s=settings.timeout_s, peer_models=peer_models)
                        except UnsupportedMode as exc:
                            skipped[mode] = str(exc)
                            console.print(f"  [yellow]skipping mode {mode}[/]: the node does not serve it ({exc})")
                            progress.update(task, total=(progress.tasks[0].total or 0) - (total_items - len(records)))
                            continue
                        record.per_mode[mode] = outcome
                        right[mode] = right.get(mode, 0) + outcome.correct
                        progress.advance(task)
                    records.append(record)
                    running = " ".join(f"{k}={v / index:.0%}" for k, v in right.items())
                    progress.update(task, description=f"{dataset} {index}/{len(dataset_items)} {running}")
                    if not console.is_terminal and (len(records) % log_every == 0 or index == len(dataset_items)):
                        console.print(f"  {len(records)}/{total_items} items, {time.monotonic() - started:.0f}s: "
                                      f"{dataset} {index}/{len(dataset_items)} {running}")
    records = as_stored(records)
    modes = [m for m in modes if m not in skipped]
    results = {name: evaluate_strategies([r for r in records if r.dataset == name], peers, modes, settings.seed)
               for name in items}
    if len(items) > 1:
        results[POOLED] = evaluate_strategies(records, peers, modes, settings.seed)
    meta = {
        "command": settings.command,
        "api": api,
        "split": settings.split,
        "limit": settings.limit,
        "seed": settings.seed,
        "datasets": {name: len(v) for name, v in items.items()},
        "modes": modes,
        "skipped_modes": skipped,
        "peers": [asdict(p) for p in peers],
        "evaluated_on": {m: p.peer_id for m, p in on_peer.items()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "per_dataset": {name: [r.to_json() for r in rows] for name, rows in results.items()},
        "scoring": SCORING,
    }
    return EvalReport(peers, {m: p.peer_id for m, p in on_peer.items()}, records, results, skipped, meta)


# ------------------------------------------------------------------ reports
def rerender(out: Path) -> EvalReport:
    """Rebuild an earlier run's report from its ``OUT.json`` and ``OUT.items.jsonl`` (no nodes):
    the strategies are recomputed from the stored outcomes and every file is written again."""
    import json

    from peermind.bench import read_results_json

    try:
        _results, meta = read_results_json(out)
        lines = Path(f"{out.with_suffix('')}.items.jsonl").read_text().splitlines()
        records = [ItemRecord.from_json(json.loads(line)) for line in lines if line.strip()]
        peers = [Peer(**p) for p in meta["peers"]]
    except (BenchError, OSError, ValueError, KeyError, TypeError) as exc:
        raise EvalError(f"cannot rebuild the report of {out}: {exc}") from exc
    try:
        results = _recompute(records, peers, meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise EvalError(f"cannot rebuild the report of {out}: {exc}") from exc
    on_peer = dict(meta.get("evaluated_on") or {})
    report = EvalReport(peers, on_peer, records, results, dict(meta.get("skipped_modes") or {}), meta)
    report.files = write_reports(report, out)
    return report


def _recompute(records: list[ItemRecord], peers: list[Peer], meta: dict[str, Any]) -> dict[str, list[StrategyResult]]:
    """Every strategy's figures from the stored outcomes, for either protocol."""
    if meta.get("protocol") == "lodo":
        from ._eval_lodo_report import lodo_results

        return lodo_results(records, peers, meta)
    modes, seed = list(meta["modes"]), int(meta["seed"])
    datasets = list(meta["datasets"])
    results = {name: evaluate_strategies([r for r in records if r.dataset == name], peers, modes, seed) for name in datasets}
    if len(datasets) > 1:
        results[POOLED] = evaluate_strategies(records, peers, modes, seed)
    meta["per_dataset"] = {name: [r.to_json() for r in rows] for name, rows in results.items()}
    return results


def write_reports(report: EvalReport, out: Path) -> list[Path]:
    """out.json (schema of peermind.bench), out.md, out.items.jsonl and PNG plots beside them."""
    import json

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if report.meta.get("protocol") == "lodo":
        return _write_lodo_reports(report, out)
    stem = out.with_suffix("")
    headline = report.results.get(POOLED) or next(iter(report.results.values()))
    goals = standard_goals(report)
    report.meta["goals"] = {mode: [c.to_json() for c in checks] for mode, checks in goals.items()}
    files = [write_results_json(headline, out, report.meta)]
    items_path = Path(f"{stem}.items.jsonl")
    items_path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in report.records))
    files.append(items_path)
    files.append(plot_accuracy_vs_cost(merge_coincident(headline), f"{stem}.accuracy_vs_cost.png",
                                       title=f"Accuracy vs cost, {_label(report)}"))
    latencies = _latencies(report)
    files.append(plot_latency(latencies, f"{stem}.latency.png", title=f"Latency CDF, {_label(report)}"))
    if len(report.results) > 1:
        for name, rows in report.results.items():
            if name != POOLED:
                files.append(plot_accuracy_vs_cost(merge_coincident(rows), f"{stem}.{name}.accuracy_vs_cost.png",
                                                   title=f"Accuracy vs cost, {name} (n={rows[0].n if rows else 0})"))
    md_path = Path(f"{stem}.md")
    md_path.write_text(render_markdown(report, [f.name for f in files], goals))
    files.insert(1, md_path)
    return files


def _write_lodo_reports(report: EvalReport, out: Path) -> list[Path]:
    """out.json, out.md, out.items.jsonl and out.learning_curve.png of a leave-one-dataset-out run."""
    import json

    from ._eval_lodo_report import lodo_goals, plot_learning_curves, render_lodo_markdown

    stem = out.with_suffix("")
    goals = lodo_goals(report.records, report.peers, report.meta)
    report.meta["per_dataset"] = {name: [r.to_json() for r in rows] for name, rows in report.results.items()}
    report.meta["goals"] = {key: [c.to_json() for c in checks] for key, checks in goals.items()}
    headline = report.results.get(POOLED) or next(iter(report.results.values()))
    files = [write_results_json(headline, out, report.meta)]
    items_path = Path(f"{stem}.items.jsonl")
    items_path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in report.records))
    files.append(items_path)
    files.append(plot_learning_curves(report.results, report.meta["network_modes"], report.meta["steps"],
                                      Path(f"{stem}.learning_curve.png")))
    md_path = Path(f"{stem}.md")
    md_path.write_text(render_lodo_markdown(report.records, report.results, goals, report.meta, [f.name for f in files]))
    files.insert(1, md_path)
    return files


def standard_goals(report: EvalReport) -> dict[str, list[GoalCheck]]:
    """Issue 12's goals for each default mode (route, auto) the run asked."""
    modes = [m for m in GOAL_MODES if m in report.meta.get("modes", [])]
    if not modes or not report.records:
        return {}
    strongest = strongest_model(report.peers)
    return {m: goal_checks(report.records, m, strongest, int(report.meta["seed"])) for m in modes}


def merge_coincident(results: Sequence[StrategyResult]) -> list[StrategyResult]:
    """One plotted point per (cost, accuracy), labelled "a = b" (identical) or "a ≈ b" (within
    one accuracy point and 2% of the cost axis): always-strongest is often exactly the
    strongest single model, and a router may nearly always pick one model; overlapping
    labels are unreadable. The tables keep every row's exact figures."""
    costs = [r.mean_cost for r in results if math.isfinite(r.mean_cost)]
    span = max(costs, default=0.0) or 1.0
    merged: list[StrategyResult] = []
    for r in results:
        exact = near = None
        for m in merged:
            d_acc, d_cost = abs(m.accuracy - r.accuracy), abs(m.mean_cost - r.mean_cost)
            if d_acc == 0 and d_cost <= 1e-9 * span:
                exact = m
                break
            if near is None and d_acc <= 0.01 and d_cost <= 0.02 * span:
                near = m
        twin = exact or near
        if twin is None:
            merged.append(r)
        else:
            merged[merged.index(twin)] = replace(twin, mode=f"{twin.mode} {'=' if exact else '≈'} {r.mode}")
    return merged


def _label(report: EvalReport) -> str:
    n = sum(report.meta["datasets"].values())
    return f"{', '.join(report.meta['datasets'])} (n={n})"


def _latencies(report: EvalReport) -> dict[str, list[float]]:
    """Per-mode latency lists; baselines reuse the pinned-peer latencies they were derived from."""
    from ._strategies import baseline_outcomes

    out: dict[str, list[float]] = {}
    for mode in report.meta["modes"]:
        if mode in BASELINES or mode.startswith("single:"):
            outcomes: list[Outcome] = baseline_outcomes(mode, report.records, report.peers, report.meta["seed"])
        else:
            outcomes = [r.per_mode[mode] for r in report.records if mode in r.per_mode]
        values = [o.latency_ms for o in outcomes if not o.error]
        twin = next((k for k, v in out.items() if v == values), None)
        if twin is None:
            out[mode] = values
        else:  # identical answers (always-strongest = its single model): one curve, both names
            out[f"{twin} = {mode}"] = out.pop(twin)
    return out


def render_markdown(report: EvalReport, files: list[str], goals: dict[str, list[GoalCheck]] | None = None) -> str:
    meta = report.meta
    goals = standard_goals(report) if goals is None else goals
    lines = run_header(meta, "peermind evaluation")
    lines += [
        "| peer | model | params (M) | cost / 1k tokens | single-model questions |",
        "|---|---|---:|---:|---|",
    ]
    for p in report.peers:
        used = "yes" if report.evaluated_on.get(p.model) == p.peer_id else ""
        entry = " (entry)" if p.is_entry else ""
        lines.append(f"| `{p.peer_id[-12:]}`{entry} | {p.model} | {p.params_m:.0f} | {p.cost_per_1k:g} | {used} |")
    lines += ["", meta["scoring"] + ".", ""]
    if report.skipped:
        lines += ["Skipped (the node does not serve them yet): "
                  + "; ".join(f"`{m}`" for m in report.skipped), ""]
    ordered = ([POOLED] if POOLED in report.results else []) + [k for k in report.results if k != POOLED]
    for name in ordered:
        rows = report.results[name]
        title = "All datasets pooled" if name == POOLED else name
        lines += [f"## {title} (n={rows[0].n if rows else 0})", "", markdown_table(rows).rstrip(), ""]
        binary = [r for r in report.records if (name in (POOLED, r.dataset)) and 0 < r.n_choices < 4]
        if binary:
            lines += ["Yes/no or two-way items are included: a two-model oracle is inflated there "
                      "(when the models disagree one of them is right), so gap_recovered is not reported.", ""]
    if goals:
        lines += ["## Goals of issue 12", "",
                  "Per dataset: the paired 95% interval of (mode - best single model on the same items); pooled: "
                  "seeded bootstrap over items. A verdict whose interval straddles the threshold is marked inside the noise.", ""]
        for mode, checks in goals.items():
            lines += goals_markdown(f"{mode} (default mode)", checks)
    lines += ["Oracle: right when any model is right, at the cheapest right model's cost (an upper bound). "
              "Random: a seeded random peer per item. Always-strongest: the model with the most parameters. "
              "All three are derived from the same per-model answers as the single-model rows.", ""]
    lines += ["Files: " + ", ".join(f"`{f}`" for f in files), ""]
    return "\n".join(lines)
