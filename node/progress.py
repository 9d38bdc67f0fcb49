"""Progress bars with an ETA for the CLI's slow steps whose work cannot be counted.

Loading a GGUF model, measuring its speed or assembling a 253 MB file report no progress
of their own, so each step's bar advances against an *expected* duration: the time the
same step took last time on this machine (kept in a small JSON file), else an estimate
from the work's size. The bar never claims to finish before the step does (it stops at
99 %), and the recorded times make the next ETA honest.

On a terminal this draws rich progress bars (rich's own refresh thread animates them);
elsewhere (a log file, a testnet node's output) it prints one line per step start and end.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.progress_bar import ProgressBar
from rich.text import Text

__all__ = ["TIMINGS_FILE", "Stages", "estimate_load_s"]

_HISTORY_WEIGHT = 0.7  # how much the last run counts against older ones


TIMINGS_FILE = "timings.json"
"""In a node's data directory: how long each start-up stage took last time (the next start's ETA)."""


def estimate_load_s(size_bytes: int) -> float:
    """First-run guess for loading a GGUF file: ~0.5 s plus ~150 MB/s from the page cache."""
    return 0.5 + size_bytes / 150e6


class _EstimatedBar(BarColumn):
    """A bar filled by elapsed / expected time (capped at 99 % until the step ends)."""

    def render(self, task: Task) -> ProgressBar:
        expected = float(task.fields.get("expected_s") or 1.0)
        done = 1.0 if task.finished else min(0.99, (task.elapsed or 0.0) / max(expected, 1e-3))
        return ProgressBar(
            total=1.0, completed=done, width=None if self.bar_width is None else max(1, self.bar_width),
            animation_time=task.get_time(), style=self.style, complete_style=self.complete_style,
            finished_style=self.finished_style,
        )


class _EtaColumn(ProgressColumn):
    """'ETA 3s' while running (from the expected duration), 'done in 2.1s' once finished."""

    def render(self, task: Task) -> Text:
        if task.finished:
            return Text(f"done in {task.finished_time or 0.0:.1f}s", style="green")
        elapsed = task.elapsed or 0.0
        remaining = max(0.0, float(task.fields.get("expected_s") or 0.0) - elapsed)
        if remaining <= 0:
            return Text(f"{elapsed:.0f}s, finishing…", style="yellow")
        return Text(f"ETA {remaining:.0f}s", style="cyan")


class Stages:
    """A sequence of timed steps; use ``with stages.stage(key, description, estimate_s):``."""

    def __init__(self, history_file: Path | None = None, *, console: Console | None = None) -> None:
        self.history_file = history_file
        self.console = console or Console(stderr=True)
        self._history = self._load()
        self._progress: Progress | None = None

    def __enter__(self) -> Stages:
        if self.console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), _EstimatedBar(bar_width=30), _EtaColumn(),
                console=self.console, transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._save()

    def expected_s(self, key: str, estimate_s: float) -> float:
        """Last measured duration of ``key`` on this machine, else ``estimate_s``."""
        value = self._history.get(key)
        return float(value) if isinstance(value, int | float) and value > 0 else estimate_s

    @contextmanager
    def stage(self, key: str, description: str, estimate_s: float) -> Iterator[None]:
        """Show one start-up stage with its expected duration; remember how long it took."""
        expected = self.expected_s(key, estimate_s)
        started = time.perf_counter()
        task_id = None
        if self._progress is not None:
            task_id = self._progress.add_task(description, total=1.0, expected_s=expected)
        else:
            self.console.print(f"{description} (expected ~{expected:.0f}s)…", highlight=False)
        try:
            yield
        finally:
            took = time.perf_counter() - started
            previous = self._history.get(key)
            self._history[key] = (
                took if not isinstance(previous, int | float)
                else _HISTORY_WEIGHT * took + (1 - _HISTORY_WEIGHT) * previous
            )
            if self._progress is not None and task_id is not None:
                self._progress.update(task_id, completed=1.0)
                self._progress.stop_task(task_id)
            else:
                self.console.print(f"{description}: done in {took:.1f}s", highlight=False)

    def _load(self) -> dict[str, float]:
        if self.history_file is None:
            return {}
        try:
            data = json.loads(self.history_file.read_text())
        except (OSError, ValueError):
            return {}
        return {k: float(v) for k, v in data.items() if isinstance(v, int | float)} if isinstance(data, dict) else {}

    def _save(self) -> None:
        if self.history_file is None:
            return
        try:
            self.history_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.history_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({k: round(v, 3) for k, v in self._history.items()}, indent=1))
            os.replace(tmp, self.history_file)
        except OSError:
            pass  # timings only improve the next ETA; never fail a command over them
