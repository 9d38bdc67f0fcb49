"""Shared builders for the federated tests: seeded synthetic nodes over the in-process transport."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message
from flwr.clientapp.typing import ClientAppCallable, Mod
from peermind.federated import (
    FeatureSchema,
    FederatedClient,
    FeedbackRow,
    InProcessTransport,
    RouterModel,
    make_client_app,
)
from peermind.federated._synthetic import SyntheticTask, make_task, node_datasets, sample_rows

MODEL_KEYS = ("smollm2", "gemma3-270m")


def schema() -> FeatureSchema:
    return FeatureSchema(version=1, model_keys=MODEL_KEYS)


def task(seed: int = 0) -> SyntheticTask:
    return make_task(MODEL_KEYS, seed=seed)


def heldout(t: SyntheticTask, queries: int = 300, seed: int = 99) -> list[FeedbackRow]:
    return sample_rows(t, queries, np.random.default_rng(seed), prefix="test")


def poison_mod(msg: Message, ctx: Context, call_next: ClientAppCallable) -> Message:
    """An attacker's ClientApp: trains honestly, then replies with -10*w + 5."""
    reply = call_next(msg, ctx)
    if reply.has_error():
        return reply
    arrays = reply.content.array_records["arrays"]
    reply.content["arrays"] = ArrayRecord(
        {k: Array(-10.0 * arrays[k].numpy() + 5.0) for k in arrays.keys()}
    )
    return reply


def build_network(
    nodes: int,
    *,
    seed: int = 0,
    queries_per_node: int = 60,
    mods: Mapping[int, Sequence[Mod]] | None = None,
) -> tuple[InProcessTransport, SyntheticTask, list[str]]:
    """``nodes`` peers ("peer-0".."peer-N") each with its own non-IID synthetic feedback."""
    t = task(seed)
    data = node_datasets(t, nodes, queries_per_node=queries_per_node, seed=seed + 1)
    clients = {}
    names = []
    for i, (train, val) in enumerate(data):
        name = f"peer-{i}"
        app = make_client_app(lambda tr=train, va=val: (tr, va), train_mods=(mods or {}).get(i, ()))
        clients[name] = FederatedClient.for_peer(app, name)
        names.append(name)
    return InProcessTransport(clients), t, names


def initial_router() -> RouterModel:
    return RouterModel(schema())
