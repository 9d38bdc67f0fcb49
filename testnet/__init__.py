"""peermind.testnet: drive real node processes from outside, as a user would.

``Testnet`` starts, faults and stops a local network (one OS process per node);
``run_eval`` compares answering strategies on benchmark data through a node's API;
``run_system`` measures convergence, round-trip overhead and envelope throughput.
The ``peermind testnet ...`` and ``peermind bench ...`` commands are thin layers over these.
"""

from typing import Any

from .errors import (
    ConvergenceTimeout,
    EvalError,
    FaultUnavailable,
    NodeDidNotStart,
    StaleState,
    TestnetError,
)

# Loaded on first use: node processes started as ``python -m peermind.testnet.<module>``
# (adversaries, fault supervisors) import this package and should not pay for
# matplotlib, rich and the benchmark code they never touch.
_LAZY = {
    "EvalReport": "._eval", "EvalSettings": "._eval", "run_eval": "._eval",
    "ItemRecord": "._eval_outcomes", "Outcome": "._eval_outcomes", "Peer": "._eval_outcomes",
    "Testnet": "._launcher", "default_dir": "._launcher",
    "NodeInfo": "._state",
    "NodeStatus": "._status", "collect": "._status",
    "evaluate_strategies": "._strategies",
    "SystemSettings": "._system", "run_system": "._system",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConvergenceTimeout",
    "EvalError",
    "EvalReport",
    "EvalSettings",
    "FaultUnavailable",
    "ItemRecord",
    "NodeDidNotStart",
    "NodeInfo",
    "NodeStatus",
    "Outcome",
    "Peer",
    "StaleState",
    "SystemSettings",
    "Testnet",
    "TestnetError",
    "collect",
    "default_dir",
    "evaluate_strategies",
    "run_eval",
    "run_system",
]
