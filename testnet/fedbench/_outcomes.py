"""Which model answers which benchmark item correctly: scored once, cached for every run.

The federated benchmark needs, per item, whether each model (SmolLM2, Gemma-3)
got it right. Scoring through the node network would cost hours; scoring the
items directly with ``peermind.node.llm`` (the same backend the nodes run, same
prompts and the same length-normalised choice rule) costs ~2 s per item and
the outcomes do not depend on who asks. The cache is one JSONL file per model,
appended as items are scored, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio
from peermind.bench import Item, cache_root, mc_context, mc_continuations, normalized_choice

from .errors import FedBenchError

MODELS = ("smollm2", "gemma3-270m")
"""The models the router chooses between (each testnet peer serves one)."""

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """Did ``model`` choose the gold answer of item ``item_id``?"""

    item_id: str
    model: str
    correct: bool


def outcomes_dir(root: Path | None = None) -> Path:
    return (root or cache_root()) / "fedbench" / "outcomes"


def _cache_file(model: str, root: Path | None) -> Path:
    return outcomes_dir(root) / f"{model}.jsonl"


def read_outcomes(model: str, root: Path | None = None) -> dict[str, bool]:
    """item id -> correct, for every item ``model`` has been scored on."""
    path = _cache_file(model, root)
    found: dict[str, bool] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return found
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            found[str(row["id"])] = bool(row["correct"])
        except (ValueError, KeyError, TypeError):
            if number == len(text.splitlines()):  # a line cut short by an interrupted run
                continue
            raise FedBenchError(f"{path}:{number} is damaged; delete the file to re-score") from None
    return found


async def score_items(
    model: str,
    items: Sequence[Item],
    *,
    threads: int = 1,
    root: Path | None = None,
    progress: Progress = lambda _m: None,
) -> dict[str, bool]:
    """Score the multiple-choice ``items`` not yet in the cache; returns all known outcomes."""
    from peermind.node.extension import LlamaBackend

    known = read_outcomes(model, root)
    todo = [i for i in items if i.id not in known]
    if not todo:
        return known
    bad = [i.id for i in todo if i.kind != "mc"]
    if bad:
        raise FedBenchError(f"only multiple-choice items can be scored, got {bad[:3]}")
    path = _cache_file(model, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    progress(f"{model}: scoring {len(todo)} items ({len(known)} cached)")
    backend = await LlamaBackend.load(model, n_threads=threads, n_ctx=2048, max_queue=2)
    started = trio.current_time()
    try:
        with path.open("a") as out:
            for n, item in enumerate(todo, 1):
                scores = await backend.score(mc_context(item), mc_continuations(item))
                choice = normalized_choice([(s.logprob, s.n_tokens) for s in scores])
                correct = choice == item.gold
                known[item.id] = correct
                out.write(json.dumps({"id": item.id, "correct": correct}) + "\n")
                out.flush()
                if n % 25 == 0 or n == len(todo):
                    rate = (trio.current_time() - started) / n
                    progress(f"{model}: {n}/{len(todo)} scored ({rate:.2f} s/item)")
    finally:
        await backend.aclose()
    return known


def ensure_outcomes(
    items: Iterable[Item],
    *,
    models: Sequence[str] = MODELS,
    threads: int = 1,
    root: Path | None = None,
    progress: Progress = lambda _m: None,
) -> dict[str, dict[str, bool]]:
    """model -> (item id -> correct) for ``items``, scoring whatever the cache lacks."""
    wanted = list(items)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result: dict[str, dict[str, bool]] = {}
    for model in models:
        known = trio.run(partial(score_items, model, wanted, threads=threads, root=root, progress=progress))
        result[model] = {i.id: known[i.id] for i in wanted}
    return result
