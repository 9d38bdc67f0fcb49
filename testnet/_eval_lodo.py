"""``peermind bench eval --protocol lodo``: generalisation to a dataset the router never saw.

For each tested dataset D a fresh testnet is started (new identities and stores, so no
row of an earlier held-out run survives), and, only through the entry node's public API:

1. the router is seeded on the other datasets (``router seed``), never on D and never on
   a dataset of D's family (ARC-Easy and ARC-Challenge share a source); the nodes'
   canaries are drawn from those same datasets, so no canary of D reaches a router;
2. every model answers D's test items once with its peer pinned (the single-model,
   always-strongest and oracle baselines, identical at every stage);
3. at each step k of the learning curve (default 0, 10, 20, 50) D's test items are asked
   in every network mode; between steps, answers to D's VALIDATION items (asked in the
   feedback mode) are marked right or wrong with ``POST /peermind/feedback`` until k
   labelled answers have reached the router (the node's quality memory reads labelled
   rows within a second); with ``refit`` the same seed is also run again (already-scored
   items are skipped), which refits the router's heads on every labelled row.

Test items are never labelled: the curve measures what labelled answers on *other*
items of the new kind of question do for the router.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peermind.bench import Item, load_items
from peermind.node.client import ApiRequestFailed, ClientError, NodeClient
from rich.console import Console

from ._eval_ask import ask_item
from ._eval_outcomes import ItemRecord, Peer
from ._launcher import Testnet
from ._profiles import set_args
from .errors import EvalError

DEFAULT_STEPS = (0, 10, 20, 50)
DEFAULT_LODO_MODES = ("single", "always-strongest", "oracle", "route", "auto")
FAMILIES = {"arc_easy": "arc", "arc_challenge": "arc"}  # held out together
SEED_POLL_S = 2.0
FEEDBACK_WAIT_S = (0.2, 0.5, 1.0, 2.0, 4.0)  # rows are written off the answer path
LABEL_SETTLE_S = 2.0  # the quality memory re-reads labelled rows at most once a second


def family(dataset: str) -> str:
    return FAMILIES.get(dataset, dataset)


def stage_key(mode: str, step: int) -> str:
    """``per_mode`` key of a network mode's answers after ``step`` labelled answers."""
    return f"{mode}@{step}"


def seed_datasets_for(held_out: str, pool: Sequence[str]) -> list[str]:
    """The seed pool without the held-out dataset and its family."""
    return [d for d in pool if family(d) != family(held_out)]


def parse_steps(text: str) -> list[int]:
    try:
        steps = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError as exc:
        raise EvalError(f"--lodo-steps must be comma-separated whole numbers, e.g. 0,10,20,50 (got {text!r})") from exc
    if not steps or steps[0] < 0:
        raise EvalError(f"--lodo-steps needs numbers >= 0, e.g. 0,10,20,50 (got {text!r})")
    return steps


@dataclass
class LodoPlan:
    steps: list[int] = field(default_factory=lambda: list(DEFAULT_STEPS))
    seed_pool: list[str] = field(default_factory=list)  # empty: the tested datasets
    seed_limit: int = 30
    seed_validation_limit: int = 15
    feedback_mode: str = "route"
    refit: bool = False  # the node's quality memory reads labelled rows at once; refit re-runs the seed


@dataclass
class FeedbackEvent:
    """One labelled answer on a validation item: what the router was told."""

    item_id: str
    correct: bool
    model: str
    rows_labelled: int
    task_id: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class HeldOutRun:
    """What one held-out dataset's testnet produced."""

    dataset: str
    seeded_on: list[str]
    records: list[ItemRecord]
    feedback: list[FeedbackEvent]
    router: dict[int, dict[str, Any]]  # step -> router snapshot before asking the test items
    seed_summary: dict[str, Any]
    peers: list[Peer]
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {"seeded_on": self.seeded_on, "feedback": [f.to_json() for f in self.feedback],
                "router": {str(k): v for k, v in self.router.items()}, "seed": self.seed_summary,
                "peers": [p.__dict__ for p in self.peers], "wall_s": round(self.wall_s, 1), "notes": self.notes}


Say = Callable[[str], None]


def router_snapshot(client: NodeClient) -> dict[str, Any]:
    """The parts of ``GET /peermind/router`` that say what the router had learnt from."""
    status = client.router_status()
    router = status.get("router") or {}
    keep = ("version", "source", "kind", "model_keys", "trained_heads")
    return {"router": {k: router[k] for k in keep if k in router}, "feedback": status.get("feedback", {}),
            "quality_memory": status.get("quality_memory", {})}


def seed_router(client: NodeClient, datasets: list[str], plan: LodoPlan, say: Say) -> dict[str, Any]:
    """Run ``router seed`` on ``datasets`` and wait for it, printing progress; the summary."""
    client.router_seed(datasets, limit=plan.seed_limit, validation_limit=plan.seed_validation_limit,
                       generation_items=0)
    last = ""
    while True:
        time.sleep(SEED_POLL_S)
        progress = client.seed_progress()
        state = progress.get("state")
        line = f"seed {','.join(datasets)}: {progress.get('phase') or state} {progress.get('done', 0)}/{progress.get('total', 0)}"
        if line != last:
            say(line)
            last = line
        if state == "done":
            return dict(progress.get("summary") or {})
        if state == "failed":
            raise EvalError(f"seeding the router on {', '.join(datasets)} failed: {progress.get('error')}")


def label_answer(client: NodeClient, item: Item, mode: str, *, max_tokens: int, timeout_s: float,
                 peer_models: dict[str, str]) -> FeedbackEvent | None:
    """Ask one validation item in ``mode``, then tell the node whether its answer was right.

    None when the question failed (nothing to label). The label is computed here from the
    item's gold answer, exactly as a user who knows the answer would mark it.
    """
    outcome = ask_item(client, item, mode=mode, max_tokens=max_tokens, timeout_s=timeout_s, peer_models=peer_models)
    if outcome.error or not outcome.task_id:
        return None
    for wait_s in (*FEEDBACK_WAIT_S, None):
        try:
            marked = client.feedback(outcome.task_id, correct=outcome.correct)
            return FeedbackEvent(item.id, outcome.correct, outcome.model, int(marked.get("labelled", 0)), outcome.task_id)
        except ApiRequestFailed as exc:
            if exc.status != 404 or wait_s is None:
                return None
            time.sleep(wait_s)
    return None


def run_held_out(client: NodeClient, dataset: str, test_items: Sequence[Item], validation: Sequence[Item],
                 seeded_on: list[str], peers: list[Peer], models: list[str], network_modes: list[str],
                 plan: LodoPlan, *, max_tokens: int, timeout_s: float, say: Say) -> HeldOutRun:
    """Seed without ``dataset``, then the baselines and the learning curve on its test items."""
    started = time.monotonic()
    on_peer = {m: next(p for p in peers if p.model == m) for m in models}
    peer_models = {p.peer_id: p.model for p in peers}
    run = HeldOutRun(dataset, seeded_on, [], [], {}, {}, peers)
    run.seed_summary = _compact_seed(seed_router(client, seeded_on, plan, say))
    run.records = [ItemRecord(it.id, dataset, it.kind, len(it.choices or ())) for it in test_items]
    for record, item in zip(run.records, test_items, strict=True):
        for model in models:
            record.per_model[model] = ask_item(client, item, peer=on_peer[model], max_tokens=max_tokens,
                                               timeout_s=timeout_s, peer_models=peer_models)
    say(f"{dataset}: single-model answers on {len(test_items)} test items: "
        + ", ".join(f"{m} {sum(r.per_model[m].correct for r in run.records)}/{len(run.records)}" for m in models))
    pending = list(validation)
    for step in plan.steps:
        while len(run.feedback) < step and pending:
            event = label_answer(client, pending.pop(0), plan.feedback_mode, max_tokens=max_tokens,
                                 timeout_s=timeout_s, peer_models=peer_models)
            if event is not None:
                run.feedback.append(event)
        if len(run.feedback) < step:
            run.notes.append(f"only {len(run.feedback)} labelled answers for step {step}: "
                             f"{len(validation)} validation items")
        if step and plan.refit:
            seed_router(client, seeded_on, plan, lambda _m: None)
        if step:
            time.sleep(LABEL_SETTLE_S)
        run.router[step] = router_snapshot(client)
        for record, item in zip(run.records, test_items, strict=True):
            for mode in network_modes:
                record.per_mode[stage_key(mode, step)] = ask_item(
                    client, item, mode=mode, max_tokens=max_tokens, timeout_s=timeout_s, peer_models=peer_models)
        say(f"{dataset} after {len(run.feedback)} labelled answers: " + ", ".join(
            f"{m} {sum(r.per_mode[stage_key(m, step)].correct for r in run.records)}/{len(run.records)}"
            for m in network_modes))
    run.wall_s = time.monotonic() - started
    return run


def _compact_seed(summary: dict[str, Any]) -> dict[str, Any]:
    keep = ("router_version", "train_rows", "validation_rows", "calibration")
    return {k: summary[k] for k in keep if k in summary}


def run_lodo(items: dict[str, list[Item]], plan: LodoPlan, *, nodes: int, profile: str, threads: int | None,
             node_settings: Sequence[str], testnet_dir_for: Callable[[str], tuple[Path, bool]], resolve: Callable[[list[Peer]], tuple[list[str], list[str], list[str]]],
             discover: Callable[[NodeClient], list[Peer]], token: str | None, max_tokens: int, timeout_s: float,
             console: Console, on_done: Callable[[list[HeldOutRun]], None] | None = None) -> list[HeldOutRun]:
    """One fresh testnet per held-out dataset; the runs in dataset order. ``on_done`` gets the
    runs so far after each dataset (a long run leaves results even if it is stopped)."""
    say: Say = lambda m: console.print(f"  {m}")  # noqa: E731
    pool = plan.seed_pool or list(items)
    runs: list[HeldOutRun] = []
    for dataset, test_items in items.items():
        seeded_on = seed_datasets_for(dataset, pool)
        if not seeded_on:
            raise EvalError(f"nothing to seed on when {dataset} is held out: give --seed-datasets other than "
                            f"{dataset} and its family")
        validation = load_items(dataset, "validation", limit=2 * max(plan.steps))  # spares for failed questions
        settings = [*node_settings, f"trust.canary_datasets={','.join(seeded_on)}",
                    f"router.learn_datasets={','.join(seeded_on)}"]  # idle learning must not see D either
        directory, own = testnet_dir_for(dataset)
        net = Testnet(directory)
        console.print(f"[bold]{dataset}[/] held out: fresh {nodes}-node testnet in {net.dir}, "
                      f"router seeded on {', '.join(seeded_on)} only")
        ok = False
        try:
            up = net.up(nodes, profile=profile, threads=threads, progress=say, extra_args=set_args(settings))
            with NodeClient(up[0].api, token=token, timeout_s=timeout_s + 30) as client:
                try:
                    peers = discover(client)
                except ClientError as exc:
                    raise EvalError(f"cannot evaluate through {up[0].api}: {exc}") from exc
                _modes, models, network_modes = resolve(peers)
                runs.append(run_held_out(client, dataset, test_items, validation, seeded_on, peers, models,
                                         network_modes, plan, max_tokens=max_tokens, timeout_s=timeout_s, say=say))
            ok = True
            if on_done is not None:
                on_done(runs)
        except ClientError as exc:
            raise EvalError(f"the node API failed while {dataset} was held out: {exc}") from exc
        finally:
            net.down()
            if own and ok:
                shutil.rmtree(directory, ignore_errors=True)
            elif own:
                console.print(f"node logs kept in {directory}")
    return runs
