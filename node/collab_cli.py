"""CLI commands of collaboration: ``ask`` options, ``router seed|status|calibrate``, ``feedback``.

They talk to a running node through its HTTP API (``NodeClient``), like any program.
Kept outside the ``collab`` package, whose ``__init__`` loads the whole collaboration
stack (libp2p, llama.cpp, Flower): building the parser must stay cheap for every command.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .cli_errors import Subcommands
from .collab_choices import ESCALATE_TO, MODES, VOTE_RULES
from .json_types import as_list, as_object

if TYPE_CHECKING:
    from .client import NodeClient

ClientFactory = Callable[[argparse.Namespace], "NodeClient"]


# ---------------------------------------------------------------------- ask
def add_ask_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``peermind ask`` (mode, constraints, tactics)."""
    p.add_argument("--mode", default="auto", choices=MODES,
                   help="route: one peer by the learned router; cascade: cheapest first, escalate when unsure; "
                        "vote / moa: several peers; auction: contract-net bids; auto: route, then escalate (default)")
    p.add_argument("--require-tag", dest="require_tags", action="append", metavar="TAG",
                   help="only peers advertising this tag (repeatable), e.g. a data-residency tag")
    p.add_argument("--min-quality", type=float, metavar="P", help="minimum predicted P(correct), 0..1 (needs a trained router)")
    p.add_argument("--k", type=int, help="voters / proposers / bidders")
    p.add_argument("--proposers", help="comma-separated peer IDs proposing in moa")
    p.add_argument("--aggregator", help="peer ID that synthesises in moa")
    p.add_argument("--cost-weight", type=float, help="lambda: accuracy given up per unit of relative cost")
    p.add_argument("--threshold", type=float, help="cascade confidence threshold (default: calibrated)")
    p.add_argument("--escalate-to", choices=ESCALATE_TO, help="cascade/auto escalation target")
    p.add_argument("--vote-rule", choices=VOTE_RULES, help="majority (default) or weighted")
    p.add_argument("--negotiate", action="store_true", help="choose the peer by offer/bid/award")
    p.add_argument("--timeout", type=float, dest="timeout_s", help="seconds before giving up")


def ask_options(args: argparse.Namespace) -> dict[str, Any]:
    """The request options the parsed ``ask`` flags set."""
    opts: dict[str, Any] = {
        "budget_ms": getattr(args, "budget_ms", None),
        "max_cost": getattr(args, "max_cost", None),
        "local_only": getattr(args, "local_only", False) or None,
        "peer": getattr(args, "peer", None),
        "require_tags": args.require_tags,
        "min_quality": args.min_quality,
        "k": args.k,
        "proposers": [p for p in args.proposers.split(",") if p] if args.proposers else None,
        "aggregator": args.aggregator,
        "cost_weight": args.cost_weight,
        "threshold": args.threshold,
        "escalate_to": args.escalate_to,
        "vote_rule": args.vote_rule,
        "negotiate": args.negotiate or None,
        "timeout_s": args.timeout_s,
    }
    return {k: v for k, v in opts.items() if v is not None}


def run_ask(args: argparse.Namespace, client: NodeClient) -> int:
    """``peermind ask``: print the answer (and its provenance with --explain)."""
    with client:
        result = client.ask(args.question, mode=args.mode, max_tokens=args.max_tokens, **ask_options(args))
    p = result.provenance
    print(result.text.strip())
    escalated = " (escalated)" if p.get("escalated") else ""
    print(
        f"\n— answered by {p['answered_by']} ({p['model']}) in {p['latency_ms']:.0f} ms, "
        f"mode {p['mode']}{escalated}, cost {p['cost']:.4f}, task {p.get('task_id', '')}",
        file=sys.stderr,
    )
    if args.explain:
        print(explain(p), file=sys.stderr)
        print(json.dumps(p, indent=2), file=sys.stderr)
    return 0


def explain(p: Mapping[str, object]) -> str:
    """A provenance as readable lines: who answered, why, at what cost."""
    lines = [
        f"why: {p.get('reason', '')}",
        f"router: {p.get('router')}, decision {p.get('decision_ms', 0):.1f} ms"
        + (f", negotiation {p['negotiation_ms']:.1f} ms" if p.get("negotiation_ms") is not None else ""),
        f"confidence {p.get('confidence', 0):.3f}, escalated {p.get('escalated')}, asked {len(as_list(p.get('asked')))} peer(s)",
    ]
    for c in map(as_object, as_list(p.get("contributions"))):
        pick = f"choice {c['choice']}" if c.get("choice") is not None else repr(str(c.get("text", ""))[:60])
        cites = f" cites {', '.join(map(str, as_list(c['citations'])))}" if c.get("citations") else ""
        lines.append(f"  {c['role']:<8} {str(c['peer_id'])[:16]}… {c['model']:<12} conf {c['confidence']:.3f} "
                     f"cost {c['cost']:.4f} {c['latency_ms']:.0f} ms {pick}{cites}")
    matches = [f"{str(e['peer_id'])[:16]}… {e['knowledge_match']:.2f}" for e in map(as_object, as_list(p.get("considered")))
               if e.get("knowledge_match") is not None]
    if matches:
        lines.append("knowledge match (question vs each peer's corpus summary): " + ", ".join(matches))
    for a in map(as_object, as_list(p.get("attempts"))):
        if a["outcome"] != "ok":
            lines.append(f"  failed   {str(a['peer_id'])[:16]}… {a['outcome']} {str(a.get('detail', ''))[:80]}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- router
def cmd_router_seed(args: argparse.Namespace, client: NodeClient) -> int:
    """``peermind router seed``: start seeding and follow its progress."""
    data = None
    if args.data:
        from peermind.bench import DataFormatError

        try:
            data = seed_data(args.data)
        except DataFormatError as exc:
            print(f"peermind: {exc}", file=sys.stderr)
            return 2
    names = args.datasets if args.datasets is not None else ("" if data else "arc_easy,sciq")
    datasets = [d.strip() for d in names.split(",") if d.strip()]
    with client:
        progress = client.router_seed(
            datasets, limit=args.limit, validation_limit=args.validation_limit,
            generation_items=args.generation_items, target_escalation=args.target_escalation,
            target_share=args.target_share, data=data,
        )
        progress = _follow(client, progress, quiet=args.json)
    if args.json:
        print(json.dumps(progress, indent=2))
    else:
        _print_seed_summary(progress)
    return 0 if progress.get("state") == "done" else 2


def seed_data(path: str) -> dict[str, object]:
    """The body's ``data`` for a user's seed file, checked here first so errors name the file's line."""
    import re
    from pathlib import Path

    from peermind.bench import load_seed_jsonl

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem)[:64] or "user"
    pairs = load_seed_jsonl(path, dataset=name)
    records = [{"id": item.id.split("/", 1)[1], "query": item.query, "choices": list(item.choices or ()),
                "gold": item.gold, "split": split} for split, item in pairs]
    return {"name": name, "records": records}


def seed_line(progress: Mapping[str, object]) -> str:
    """Phase, per-model correct/done, rate and time left, as the progress bar's caption."""
    per_model = {m: as_object(v) for m, v in as_object(progress.get("per_model")).items()}
    models = ", ".join(f"{m} {v['correct']}/{v['done']}" for m, v in per_model.items())
    rate, eta = progress.get("rate_per_s"), progress.get("eta_s")
    pace = f" · {rate:.2f} rows/s" if rate else ""
    left = f" · ETA {_clock(eta)}" if isinstance(eta, int | float) and rate else ""
    return f"{progress.get('phase', '')} {models}{pace}{left}".strip()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def _follow(client: NodeClient, progress: dict[str, Any], *, quiet: bool) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet:
        while progress.get("state") == "running":
            time.sleep(1.0)
            progress = client.seed_progress()
        return progress
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=False) as bar:
        task = bar.add_task("seeding", total=None)
        while progress.get("state") == "running":
            total = progress.get("total") or None
            bar.update(task, total=total, completed=progress.get("done", 0), description=seed_line(progress))
            time.sleep(1.0)
            progress = client.seed_progress()
        bar.update(task, total=progress.get("total") or 1, completed=progress.get("done", 0),
                   description=progress.get("state", ""))
    return progress


def _print_seed_summary(progress: dict[str, Any]) -> None:
    if progress.get("state") != "done":
        print(f"seed {progress.get('state')}: {progress.get('error', '')}", file=sys.stderr)
        return
    s = progress.get("summary", {})
    took = progress.get("finished_at", 0) - progress.get("started_at", 0)
    print(f"seeded in {_clock(took)}: {progress['done']} scored, {progress['failed']} failed, "
          f"{progress.get('left', 0)} left unscored, {progress['skipped_existing']} already there, "
          f"{progress.get('backoffs', 0)} back-offs; {progress.get('notified', 0)} verdicts sent to the peers that answered")
    for model, v in progress.get("per_model", {}).items():
        rate = v["correct"] / v["done"] if v["done"] else 0.0
        print(f"  {model:<14} {v['done']} rows, {rate:.1%} correct (train+validation)")
    _print_router(s)


def _print_router(s: dict[str, Any]) -> None:
    r = s.get("validation_routing") or {}
    if r.get("queries"):
        single = ", ".join(f"{m} {a:.1%}" for m, a in r["single"].items())
        gap = r.get("gap_recovered")
        print(f"validation ({r['queries']} queries): {single}; oracle {r['oracle']:.1%}; "
              f"router {r['router']:.1%} sending {r['router_share_to_dearest']:.0%} to the dearest model"
              + (f"; gap recovered {gap:.0%}" if gap is not None else ""))
    casc = r.get("cascade") or {}
    if casc:
        print(f"cascade {casc['tiers'][0]} -> {casc['tiers'][1]} on validation: escalate {casc['escalated']:.0%}, "
              f"accuracy {casc['accuracy']:.1%} (threshold {casc['threshold']:.3f})")
    cal = s.get("calibration") or {}
    if cal:
        print(f"cost weight {cal.get('cost_weight')}; escalation thresholds {json.dumps(cal.get('thresholds', {}))}")


def cmd_router_status(args: argparse.Namespace, client: NodeClient) -> int:
    """``peermind router status``: the router's version, metrics and calibration."""
    with client:
        status = client.router_status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    r, f = status["router"], status["feedback"]
    print(f"router v{r['version']} from {r['source']}; trained heads: {', '.join(r['trained_heads']) or 'none (ad prior)'}")
    print(f"feedback rows: {f['rows']} ({f['labelled']} with a known outcome); by mode: {json.dumps(f['by_mode'])}")
    fit = (r.get("metrics") or {}).get("fit") or {}
    val = fit.get("validation") or {}
    if val:
        print(f"validation: log loss {val.get('log_loss')}, accuracy {val.get('accuracy')}, "
              f"choice accuracy {val.get('choice_accuracy')} over {val.get('choice_queries')} queries")
    _print_router({"validation_routing": (r.get("metrics") or {}).get("validation_routing"),
                   "calibration": r.get("calibration")})
    e = status["embedder"]
    print(f"embedder: {'loaded' if e['loaded'] else 'not loaded yet (loads on first use)'}")
    seed = status["seed"]
    if seed.get("state") == "running":
        print(f"seed running: {seed['done']}/{seed['total']} {seed_line(seed)}")
    return 0


def cmd_router_calibrate(args: argparse.Namespace, client: NodeClient) -> int:
    """``peermind router calibrate``: new thresholds from stored validation rows."""
    with client:
        result = client.router_calibrate(target_escalation=args.target_escalation, target_share=args.target_share)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"router v{result['router_version']} recalibrated")
        _print_router(result)
    return 0


def cmd_feedback(args: argparse.Namespace, client: NodeClient) -> int:
    """``peermind feedback``: mark an answer right or wrong."""
    if args.correct == args.wrong:
        print("peermind: say --correct or --wrong", file=sys.stderr)
        return 2
    with client:
        result = client.feedback(args.task_id, correct=bool(args.correct))
    print(f"task {result['task_id']}: {result['labelled']} of {result['rows']} feedback rows labelled")
    return 0


def register(sub: Subcommands, client_factory: ClientFactory, add_api_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``router`` and ``feedback`` to the ``peermind`` command."""

    def bind(fn: Callable[[argparse.Namespace, NodeClient], int]) -> Callable[[argparse.Namespace], int]:
        return lambda args: fn(args, client_factory(args))

    router = sub.add_parser("router", help="the learned router: seed it, see it, calibrate it").add_subparsers(
        dest="router_cmd", required=True, metavar="SUBCOMMAND")
    seed = router.add_parser("seed", help="build training data by having each model score benchmark TRAIN items, then fit")
    add_api_arg(seed)
    seed.add_argument("--datasets", help="comma-separated multiple-choice datasets (default arc_easy,sciq; "
                                         "none with --data unless given)")
    seed.add_argument("--data", metavar="FILE.jsonl",
                      help='your own items, one JSON object a line: {"query": "...", "choices": ["...", "..."], '
                           '"gold": 0-based index of the right choice, "id": optional, "split": optional '
                           'train|validation}')
    seed.add_argument("--limit", type=int, default=100, help="train items per dataset")
    seed.add_argument("--validation-limit", type=int, help="validation items per dataset (default limit/2)")
    seed.add_argument("--generation-items", type=int, default=10, help="validation items per dataset to calibrate generation")
    seed.add_argument("--target-escalation", type=float,
                      help="cascade escalation rate to calibrate for (default: the best rate in 30-50%% on validation)")
    seed.add_argument("--target-share", type=float, default=0.5, help="max share of routes to the dearest model")
    seed.add_argument("--json", action="store_true")
    seed.set_defaults(func=bind(cmd_router_seed))
    status = router.add_parser("status", help="rows, heads, validation metrics, calibration")
    add_api_arg(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=bind(cmd_router_status))
    cal = router.add_parser("calibrate", help="re-tune cascade thresholds and the cost weight on the validation rows")
    add_api_arg(cal)
    cal.add_argument("--target-escalation", type=float, help="default: the best rate in 30-50%% on validation")
    cal.add_argument("--target-share", type=float, default=0.5)
    cal.add_argument("--json", action="store_true")
    cal.set_defaults(func=bind(cmd_router_calibrate))

    fb = sub.add_parser("feedback", help="mark an answer right or wrong (labels this node's router training rows)")
    add_api_arg(fb)
    fb.add_argument("task_id", help="task_id from the answer's provenance (peermind ask prints it)")
    fb.add_argument("--correct", action="store_true")
    fb.add_argument("--wrong", action="store_true")
    fb.set_defaults(func=bind(cmd_feedback))
