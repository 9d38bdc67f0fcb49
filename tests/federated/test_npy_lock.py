"""Weights are decoded one thread at a time (federated/_npy.py: CPython 3.11's AST race, gh-106905)."""

from __future__ import annotations

import threading

import numpy as np
from flwr.app import Array, ArrayRecord
from peermind.federated import NPY_LOCK, FeatureSchema, RouterModel, array_to_numpy
from peermind.federated._records import router_from_arrayrecord, router_to_arrayrecord


class _Watched:
    """An Array stand-in that records whether the lock was held while it was decoded."""

    def __init__(self) -> None:
        self.locked_during: list[bool] = []

    def numpy(self) -> np.ndarray:
        self.locked_during.append(NPY_LOCK.locked())
        return np.zeros(2)


def test_decoding_holds_the_lock() -> None:
    watched = _Watched()
    array_to_numpy(watched)  # type: ignore[arg-type]
    assert watched.locked_during == [True] and not NPY_LOCK.locked()


def test_many_threads_decode_router_weights_at_once() -> None:
    """What a coordinator and participants in one process do during a round: every decode succeeds."""
    schema = FeatureSchema(version=1, embed_dim=8, model_keys=("a", "b"))
    record = router_to_arrayrecord(RouterModel(schema))
    failures: list[BaseException] = []

    def decode() -> None:
        for _ in range(100):
            try:
                router_from_arrayrecord(ArrayRecord({k: Array(array_to_numpy(record[k])) for k in record}), schema)
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                failures.append(exc)

    threads = [threading.Thread(target=decode) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
