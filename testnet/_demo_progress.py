"""The demo's numbered steps: a header, how long the step took last time, and a failure
that names the step.

A step that fails raises ``DemoFailed`` naming itself, so ``peermind testnet demo`` ends
with one line (``peermind: demo step 3/6 (...) failed: ...``) and a non-zero exit code.
Step durations are saved in the testnet directory and shown as the next run's estimate;
long steps also print their own remaining-time estimate as they go (``eta``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from .errors import DemoFailed

TIMINGS_FILE = "demo-timings.json"


def eta(done: int, total: int, elapsed_s: float) -> str:
    """'~40 s left' from the pace so far; '' before the first item is done."""
    if done <= 0 or total <= done:
        return ""
    left = elapsed_s / done * (total - done)
    return f"~{left / 60:.0f} min left" if left >= 120 else f"~{left:.0f} s left"


class Ticker:
    """True at most once every ``every_s`` seconds (and on the first call): periodic progress lines."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            return True
        return False


class Steps:
    """Numbered steps with timings; ``step`` turns any failure inside it into ``DemoFailed``."""

    def __init__(self, console: Console, total: int, directory: Path) -> None:
        self.console = console
        self.total = total
        self.n = 0
        self.key = ""
        self.timings: dict[str, float] = {}
        self._path = directory / TIMINGS_FILE
        self._last = _read_timings(self._path)

    @contextmanager
    def step(self, key: str, title: str) -> Iterator[None]:
        self.n += 1
        self.key = key
        last = self._last.get(key)
        estimate = f" [dim](last run {last:.0f} s)[/]" if last else ""
        self.console.print(f"\n[bold]{self.n}/{self.total} {title}[/]{estimate}", soft_wrap=True)
        started = time.monotonic()
        try:
            yield
        except DemoFailed:
            raise
        except Exception as exc:
            # peermind's typed errors (the node client's, the testnet's, the bench data's) and the
            # OS's file errors mean this step failed; anything else is a bug and keeps its traceback.
            if not (isinstance(exc, OSError) or type(exc).__module__.startswith("peermind.")):
                raise
            raise self.fail(_one_line(exc)) from exc
        self.timings[key] = time.monotonic() - started
        self.console.print(f"  [dim]({self.timings[key]:.1f} s)[/]")

    def fail(self, reason: str) -> DemoFailed:
        """The error for the current step, to ``raise``."""
        return DemoFailed(f"demo step {self.n}/{self.total} ({self.key}) failed: {reason}")

    def save(self) -> None:
        try:
            self._path.write_text(json.dumps({**self._last, **self.timings}, indent=1))
        except OSError:
            pass  # estimates are a convenience; a read-only directory must not fail the demo


def _read_timings(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


def _one_line(exc: BaseException) -> str:
    """The message's first line, and its last when it quotes more (a node's log tail ends with the cause)."""
    lines = [" ".join(line.split()) for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    text = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
    return text if len(text) <= 400 else text[:399] + "…"
