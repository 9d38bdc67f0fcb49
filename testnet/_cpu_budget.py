"""Hold the attacker's processes to a fixed, known CPU share on the bench's shared machine.

A real attacker computes on its own machine. On the one machine a testnet shares, ``nice
19`` is no stand-in: at load 18-36 it left the Sybil process 0.003 of a core (no attack
happened), while no limit at all lets it take cores the honest nodes would have on their
own machines. So ``bench trust`` gives all adversary processes of a scenario one budget of
``cores`` (default 0.5: one modest machine's worth among the peers), enforced by the kernel
where it can be and by duty cycle where it cannot, and records what they really used:

- ``cgroup-v2``: a child group with ``cpu.max`` = the share (quota per 100 ms period) and a
  high ``cpu.weight``, so on a busy machine it still gets its share, never more.
- ``cgroup-v1``: the same with ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` and ``cpu.shares``.
- ``duty-cycle`` (no writable cgroup): SIGSTOP/SIGCONT every ``DUTY_PERIOD_S``, running
  ``cores`` of each period, as cpulimit does; it caps the share but cannot raise priority.

The CPU a budget's processes used is read from /proc by the bench (``cpu_marks``) either way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

__all__ = ["CpuBudget", "DUTY_PERIOD_S"]

PERIOD_US = 100_000
"""The cgroup quota period: the share is enforced within every 100 ms."""
DUTY_PERIOD_S = 0.05
"""The duty-cycle period (SIGSTOP/SIGCONT) where no cgroup is writable."""
WEIGHT_V2 = 1000
"""``cpu.weight`` of the budget's group (default 100): ten sessions' weight, so the quota, not
the machine's other load, decides what it gets."""
SHARES_V1 = 10240
"""``cpu.shares`` of the budget's group (default 1024), for the same reason."""
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _new_group(group: Path, settings: dict[str, str]) -> Path:
    """Create cgroup ``group`` with ``settings`` (file -> value), in order; removed again if one is refused."""
    group.mkdir(exist_ok=True)
    try:
        for name, value in settings.items():
            (group / name).write_text(value)
    except OSError:
        group.rmdir()
        raise
    return group


class CpuBudget:
    """A CPU share for a set of processes; ``add`` them, ``close`` after they are gone."""

    def __init__(self, cores: float, name: str, *, root: Path = CGROUP_ROOT) -> None:
        if not cores > 0:
            raise ValueError(f"a CPU budget needs cores > 0, got {cores}")
        self.cores = cores
        self.method = "none"
        self.pids: list[int] = []
        self._group: Path | None = None
        self._stop = threading.Event()
        self._duty: threading.Thread | None = None
        for method, make in (("cgroup-v2", self._make_v2), ("cgroup-v1", self._make_v1)):
            try:
                self._group = make(root, f"peermind-{name}-{os.getpid()}")
            except OSError:
                continue
            self.method = method
            break
        else:
            self.method = "duty-cycle"

    def _make_v2(self, root: Path, name: str) -> Path:
        """A child of the unified hierarchy (at the root or at ``unified/``) with the cpu controller."""
        for base in (root, root / "unified"):
            if (base / "cgroup.controllers").exists() and "cpu" in (base / "cgroup.controllers").read_text().split():
                if "cpu" not in (base / "cgroup.subtree_control").read_text().split():
                    (base / "cgroup.subtree_control").write_text("+cpu")
                return _new_group(base / name, {"cpu.max": f"{round(self.cores * PERIOD_US)} {PERIOD_US}",
                                                "cpu.weight": str(WEIGHT_V2)})
        raise FileNotFoundError("no cgroup v2 hierarchy with the cpu controller")

    def _make_v1(self, root: Path, name: str) -> Path:
        for base in (root / "cpu", root / "cpu,cpuacct"):
            if (base / "cpu.cfs_quota_us").exists():
                return _new_group(base / name, {"cpu.cfs_period_us": str(PERIOD_US),
                                                "cpu.cfs_quota_us": str(round(self.cores * PERIOD_US)),
                                                "cpu.shares": str(SHARES_V1)})
        raise FileNotFoundError("no cgroup v1 cpu hierarchy")

    def add(self, pid: int) -> None:
        """Put ``pid`` (all its threads) under the budget."""
        self.pids.append(pid)
        if self._group is not None:
            (self._group / "cgroup.procs").write_text(str(pid))
        elif self._duty is None and self.cores < 1:
            self._duty = threading.Thread(target=self._duty_cycle, name="cpu-budget", daemon=True)
            self._duty.start()

    def describe(self) -> dict[str, object]:
        """What the results file records about the budget."""
        period_ms = DUTY_PERIOD_S * 1000 if self.method == "duty-cycle" else PERIOD_US / 1000
        return {"cores": self.cores, "method": self.method, "period_ms": period_ms, "processes": len(self.pids)}

    def _duty_cycle(self) -> None:
        """Run ``cores`` of every period, stopped the rest (the processes' threads all at once)."""
        run_s = DUTY_PERIOD_S * self.cores
        while not self._stop.is_set():
            self._signal(signal.SIGCONT)
            if self._stop.wait(run_s):
                break
            self._signal(signal.SIGSTOP)
            self._stop.wait(DUTY_PERIOD_S - run_s)
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        for pid in list(self.pids):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def close(self) -> None:
        """Stop throttling (processes left running continue) and remove the group once empty."""
        self._stop.set()
        if self._duty is not None:
            self._duty.join(timeout=1.0)
        if self._group is not None:
            with contextlib.suppress(OSError):
                parent_procs = self._group.parent / "cgroup.procs"
                for line in (self._group / "cgroup.procs").read_text().split():
                    parent_procs.write_text(line)
                self._group.rmdir()

    def __enter__(self) -> CpuBudget:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
