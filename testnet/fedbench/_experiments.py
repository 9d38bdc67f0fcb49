"""Router quality experiments: local-only vs federated vs centralised, clean and attacked.

Everything but the network hop is the production code: the nodes' ClientApp
(``make_client_app``), FederatedClient, P2PGrid, the strategies and
``run_training``; peers are in-process (``InProcessTransport``) so dozens of
rounds take seconds. Local-only and centralised routers are fitted with the
same optimiser for the same number of gradient steps a federated client
takes in total (rounds x local epochs), so the comparison is about data, not
training budget.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message
from flwr.clientapp.typing import ClientAppCallable, Mod
from peermind.bench import Item
from peermind.federated import (
    FeatureSchema,
    FederatedClient,
    FeedbackRow,
    InProcessTransport,
    RouterModel,
    StrategyOptions,
    make_client_app,
    run_training,
)

from ._dataset import BenchData
from ._outcomes import MODELS

SCHEMA = FeatureSchema(version=1, model_keys=MODELS)
VALIDATION_FRACTION = 0.2


@dataclass(frozen=True)
class Hyper:
    rounds: int = 30
    local_epochs: int = 10
    lr: float = 2.0
    l2: float = 1e-4


@dataclass(frozen=True)
class Score:
    """How a router does at choosing the model (= the peer serving it) on the test items."""

    choice_accuracy: float  # right model chosen, among items some model gets right
    end_task_accuracy: float  # answer right, over all items
    choice_items: int
    items: int

    def to_json(self) -> dict[str, float | int]:
        return {
            "choice_accuracy": round(self.choice_accuracy, 4),
            "end_task_accuracy": round(self.end_task_accuracy, 4),
            "choice_items": self.choice_items,
            "items": self.items,
        }


@dataclass
class NodeData:
    home: str
    train: list[FeedbackRow]
    validation: list[FeedbackRow]
    items: int = 0
    mix: dict[str, int] = field(default_factory=dict)


def _held_out(query_id: str) -> bool:
    digest = hashlib.sha256(b"fedbench-split:" + query_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < VALIDATION_FRACTION


def node_data(data: BenchData, parts: Sequence[Sequence[Item]], homes: Sequence[str]) -> list[NodeData]:
    out = []
    for part, home in zip(parts, homes, strict=True):
        rows = data.rows(part)
        mix: dict[str, int] = {}
        for item in part:
            mix[item.dataset] = mix.get(item.dataset, 0) + 1
        out.append(NodeData(
            home=home,
            train=[r for r in rows if not _held_out(r.query_id)],
            validation=[r for r in rows if _held_out(r.query_id)],
            items=len(part), mix=mix,
        ))
    return out


# ------------------------------------------------------------------ scoring
def choose(model: RouterModel, embeddings: np.ndarray) -> list[str]:
    """The model each query is routed to: highest predicted P(correct) (ties: first in schema)."""
    probs = model.predict_all(embeddings)
    stacked = np.stack([probs[k] for k in model.model_keys], axis=1)
    return [model.model_keys[i] for i in np.argmax(stacked, axis=1)]


def score_choices(choices: Sequence[str], data: BenchData, items: Sequence[Item]) -> Score:
    right = np.array([data.correct(item, m) for item, m in zip(items, choices, strict=True)])
    any_right = np.array([any(data.correct(item, m) for m in MODELS) for item in items])
    return Score(
        choice_accuracy=float(right[any_right].mean()) if any_right.any() else float("nan"),
        end_task_accuracy=float(right.mean()),
        choice_items=int(any_right.sum()),
        items=len(items),
    )


def score_router(model: RouterModel, data: BenchData, items: Sequence[Item]) -> Score:
    emb = np.stack([data.embeddings[i.id] for i in items])
    return score_choices(choose(model, emb), data, items)


def reference_scores(data: BenchData, items: Sequence[Item]) -> dict[str, Score]:
    out = {f"always {m}": score_choices([m] * len(items), data, items) for m in MODELS}
    oracle = [next((m for m in MODELS if data.correct(i, m)), MODELS[0]) for i in items]
    out["oracle (best possible choice)"] = score_choices(oracle, data, items)
    return out


# ------------------------------------------------------------------ training
def fit_alone(rows: Sequence[FeedbackRow], hyper: Hyper) -> RouterModel:
    model = RouterModel(SCHEMA)
    model.fit(list(rows), hyper.rounds * hyper.local_epochs, hyper.lr, hyper.l2)
    return model


Attack = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(global weights sent, honestly trained weights) -> weights actually sent back."""

ATTACKS: dict[str, Attack] = {
    "scaled (-10·w + 5)": lambda g, w: -10.0 * w + 5.0,
    "sign-flipped (g - 4·Δ)": lambda g, w: g - 4.0 * (w - g),
}


def attack_mod(attack: Attack) -> Mod:
    """A malicious node's ClientApp: trains honestly, then rewrites its reply's weights."""

    def mod(msg: Message, ctx: Context, call_next: ClientAppCallable) -> Message:
        reply = call_next(msg, ctx)
        if reply.has_error():
            return reply
        sent = next(iter(msg.content.array_records.values()))
        name, trained = next(iter(reply.content.array_records.items()))
        reply.content[name] = ArrayRecord(
            {k: Array(attack(sent[k].numpy(), trained[k].numpy()).astype(np.float32)) for k in trained.keys()}
        )
        return reply

    return mod


def federate(
    nodes: Sequence[NodeData],
    hyper: Hyper,
    *,
    strategy: str = "fedavg",
    attackers: dict[int, Attack] | None = None,
    reputation: Callable[[str], float] | None = None,
    options: StrategyOptions | None = None,
    min_nodes: int | None = None,
) -> RouterModel:
    clients = {}
    for i, node in enumerate(nodes):
        mods = (attack_mod(attackers[i]),) if attackers and i in attackers else ()
        app = make_client_app(lambda n=node: (n.train, n.validation), train_mods=mods)
        clients[f"node-{i}"] = FederatedClient.for_peer(app, f"node-{i}")
    report = run_training(
        InProcessTransport(clients), rounds=hyper.rounds, min_nodes=min_nodes or len(nodes), strategy=strategy,
        initial=RouterModel(SCHEMA), reputation=reputation, local_epochs=hyper.local_epochs,
        lr=hyper.lr, l2=hyper.l2, options=options,
    )
    return report.model()


def quality_table(data: BenchData, nodes: Sequence[NodeData], hyper: Hyper) -> dict[str, object]:
    """(a) each node's local-only router, (b) federated FedAvg, (c) centralised on pooled rows."""
    test = data.test
    local = [score_router(fit_alone(n.train, hyper), data, test) for n in nodes]
    pooled = [r for n in nodes for r in n.train]
    fed = score_router(federate(nodes, hyper), data, test)
    central = score_router(fit_alone(pooled, hyper), data, test)
    median_choice = statistics.median(s.choice_accuracy for s in local)
    median_end = statistics.median(s.end_task_accuracy for s in local)
    return {
        "references": {k: v.to_json() for k, v in reference_scores(data, test).items()},
        "local_only": [{"node": i, "home": n.home, "items": n.items, "mix": n.mix, **s.to_json()}
                       for i, (n, s) in enumerate(zip(nodes, local, strict=True))],
        "local_only_median": {"choice_accuracy": round(median_choice, 4), "end_task_accuracy": round(median_end, 4)},
        "federated": fed.to_json(),
        "centralised": central.to_json(),
        "goals": {
            "federated_vs_centralised_choice_points": round(100 * (fed.choice_accuracy - central.choice_accuracy), 2),
            "federated_vs_median_local_choice_points": round(100 * (fed.choice_accuracy - median_choice), 2),
            "federated_vs_centralised_end_task_points": round(100 * (fed.end_task_accuracy - central.end_task_accuracy), 2),
            "federated_vs_median_local_end_task_points": round(100 * (fed.end_task_accuracy - median_end), 2),
        },
    }


def poisoning_table(
    data: BenchData, nodes: Sequence[NodeData], hyper: Hyper, *, attacker: int, attacker_reputation: float = 0.05
) -> dict[str, object]:
    """One node sends poisoned updates; each strategy clean vs attacked (choice accuracy on test)."""
    bad = f"node-{attacker}"

    def uniform(_peer: str) -> float:
        return 1.0

    def trust(peer: str) -> float:
        return attacker_reputation if peer == bad else 1.0

    setups: list[tuple[str, str, Callable[[str], float] | None]] = [
        ("fedavg", "fedavg", None),
        ("reputation (uniform scores: robust clipping only)", "reputation", uniform),
        (f"reputation (attacker scored {attacker_reputation})", "reputation", trust),
        ("trimmed mean (beta 0.2)", "trimmed", None),
        ("median", "median", None),
    ]
    rows = []
    quorum = len(nodes) - 1  # a round may go on without the attacker (the reputation floor skips it)
    for label, strategy, rep in setups:
        clean = score_router(federate(nodes, hyper, strategy=strategy, reputation=rep, min_nodes=quorum), data, data.test)
        entry: dict[str, object] = {"strategy": label, "clean": clean.to_json()}
        for attack_name, attack in ATTACKS.items():
            hit = score_router(
                federate(nodes, hyper, strategy=strategy, reputation=rep, attackers={attacker: attack},
                         min_nodes=quorum),
                data, data.test,
            )
            entry[attack_name] = hit.to_json()
            entry[f"{attack_name} drop (choice points)"] = round(100 * (clean.choice_accuracy - hit.choice_accuracy), 2)
        rows.append(entry)
    honest = [n for i, n in enumerate(nodes) if i != attacker]
    without = score_router(federate(honest, hyper), data, data.test)
    return {
        "attacker": bad, "attacks": list(ATTACKS), "strategies": rows,
        "without_attacker": without.to_json(),
        "by_attacker_position": attacker_positions(data, nodes, hyper, attacker_reputation),
    }


def _attacker_only(bad: str, level: float, peer: str) -> float:
    """Reputation that singles out ``bad`` (everyone else fully trusted)."""
    return level if peer == bad else 1.0


def attacker_positions(
    data: BenchData, nodes: Sequence[NodeData], hyper: Hyper, attacker_reputation: float
) -> list[dict[str, object]]:
    """For each node as the attacker (scaled attack): FedAvg, reputation, and the no-attacker bound.

    Non-IID data makes the attacker's own rows unique: no defence can recover
    them, so "without the attacker" (FedAvg over the honest nodes only) is the
    best an attacked federation can do.
    """
    attack = ATTACKS["scaled (-10·w + 5)"]
    out = []
    quorum = len(nodes) - 1
    for a in range(len(nodes)):
        bad = f"node-{a}"
        honest = [n for i, n in enumerate(nodes) if i != a]
        fedavg = score_router(federate(nodes, hyper, attackers={a: attack}, min_nodes=quorum), data, data.test)
        rep = score_router(federate(nodes, hyper, strategy="reputation", attackers={a: attack}, min_nodes=quorum,
                                    reputation=partial(_attacker_only, bad, attacker_reputation)),
                           data, data.test)
        bound = score_router(federate(honest, hyper), data, data.test)
        out.append({
            "attacker": bad, "home": nodes[a].home,
            "fedavg": round(fedavg.choice_accuracy, 4), "reputation": round(rep.choice_accuracy, 4),
            "without_attacker": round(bound.choice_accuracy, 4),
        })
    return out
