"""The attacker's CPU budget in bench trust (testnet/_cpu_budget.py), on a real busy process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from peermind.testnet._cpu_budget import CpuBudget
from peermind.testnet._trust_bench import TrustBenchSettings, _node_args

SPIN = [sys.executable, "-c", "while True: pass"]
"""One process that would take a whole core if let."""


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


@pytest.mark.parametrize("where", ["this machine", "no cgroup"])
def test_a_budget_caps_a_busy_process_at_its_share(where: str, tmp_path: Path) -> None:
    """The kernel's quota where a cgroup is writable (else a duty cycle), and the duty cycle where
    none is (a root without cgroup files): either way the process never gets more than its share."""
    spin = subprocess.Popen(SPIN)
    try:
        budget = CpuBudget(0.25, "test", **({"root": tmp_path} if where == "no cgroup" else {}))
        with budget:
            budget.add(spin.pid)
            proc = psutil.Process(spin.pid)
            used, began = _cpu_s(proc), time.monotonic()
            time.sleep(1.0)
            used, wall = _cpu_s(proc) - used, time.monotonic() - began
            assert used <= 0.25 * wall + 0.15  # a cap: at most its share (and a period's rounding)
            described = budget.describe()
        assert described["cores"] == 0.25 and described["processes"] == 1
        if where == "no cgroup":
            assert described["method"] == "duty-cycle"
        assert spin.poll() is None and proc.status() != psutil.STATUS_STOPPED  # closed: running again
    finally:
        spin.kill()
        spin.wait()


def test_the_bench_holds_the_attacker_to_half_a_core_by_default() -> None:
    assert TrustBenchSettings().adversary_cpu == 0.5 and TrustBenchSettings().adversary_nice == 0
    with pytest.raises(ValueError):
        CpuBudget(0.0, "test")


def test_the_bench_runs_its_nodes_with_the_nodes_own_newcomer_work_budget() -> None:
    """The Sybil defence is on by default (0.1 while the model is contended): the bench measures
    what a node ships with, and --newcomer-work-share still overrides it."""
    from peermind.node.config import load_config

    assert load_config(env={}).trust.newcomer_work_share == 0.1
    args = _node_args(TrustBenchSettings(), trust=True)
    assert not any(arg.startswith("trust.newcomer_work_share") for arg in args)
    assert "trust.newcomer_work_share=0.0" in _node_args(TrustBenchSettings(newcomer_work_share=0.0), trust=True)

