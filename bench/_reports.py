"""One result row per strategy, written as JSON and Markdown for reports and the README."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._cache import write_atomic
from ._errors import DataFormatError
from ._metrics import accuracy_ci, percentile

RESULTS_SCHEMA = "peermind.bench.results/1"


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """How one answering strategy did on one item set.

    ``mode`` names the strategy ("single:smollm2", "random", "route", "cascade",
    "vote", "moa", "oracle", "always-strongest"); ``extra`` carries what is
    specific to it (escalation_rate, share_to_strong, ...).
    """

    mode: str
    accuracy: float
    ci95: tuple[float, float]
    n: int
    mean_cost: float
    p50_latency_ms: float
    p95_latency_ms: float
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_outcomes(
        cls,
        mode: str,
        correct: Sequence[bool],
        costs: Sequence[float],
        latencies_ms: Sequence[float],
        extra: Mapping[str, Any] | None = None,
    ) -> StrategyResult:
        """Summarise per-item outcomes (empty cost/latency lists give NaN, written as null)."""
        acc = accuracy_ci(correct)
        return cls(
            mode=mode,
            accuracy=acc.value,
            ci95=(acc.lo, acc.hi),
            n=acc.n,
            mean_cost=sum(costs) / len(costs) if costs else math.nan,
            p50_latency_ms=percentile(latencies_ms, 50) if latencies_ms else math.nan,
            p95_latency_ms=percentile(latencies_ms, 95) if latencies_ms else math.nan,
            extra=dict(extra or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "accuracy": self.accuracy,
            "ci95": [self.ci95[0], self.ci95[1]],
            "n": self.n,
            "mean_cost": self.mean_cost,
            "p50_latency_ms": self.p50_latency_ms,
            "p95_latency_ms": self.p95_latency_ms,
            "extra": self.extra,
        }


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null: strict JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_results_json(results: Sequence[StrategyResult], path: str | Path, meta: Mapping[str, Any]) -> Path:
    """Write ``{"schema", "results": [...], "meta": {...}}`` atomically; return the path."""
    path = Path(path)
    document = {
        "schema": RESULTS_SCHEMA,
        "results": [_json_safe(r.to_json()) for r in results],
        "meta": _json_safe(dict(meta)),
    }
    text = json.dumps(document, indent=2, allow_nan=False, default=str)
    write_atomic(path, (text + "\n").encode("utf-8"))
    return path


def read_results_json(path: str | Path) -> tuple[list[StrategyResult], dict[str, Any]]:
    """Inverse of ``write_results_json`` (null numbers come back as NaN)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        results = [
            StrategyResult(
                mode=str(row["mode"]),
                accuracy=_float(row["accuracy"]),
                ci95=(_float(row["ci95"][0]), _float(row["ci95"][1])),
                n=int(row["n"]),
                mean_cost=_float(row["mean_cost"]),
                p50_latency_ms=_float(row["p50_latency_ms"]),
                p95_latency_ms=_float(row["p95_latency_ms"]),
                extra=dict(row.get("extra") or {}),
            )
            for row in document["results"]
        ]
        return results, dict(document.get("meta") or {})
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise DataFormatError(path, None, f"not a results file ({exc})") from exc


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:,.{digits}f}"


def _fmt_extra(extra: Mapping[str, Any]) -> str:
    parts = []
    for key, value in extra.items():
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={shown}")
    return ", ".join(parts).replace("|", "\\|")


def markdown_table(results: Sequence[StrategyResult]) -> str:
    """A GitHub Markdown table, one row per strategy, accuracy in percent."""
    lines = [
        "| mode | accuracy % | 95% CI | n | mean cost | p50 ms | p95 ms | notes |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ci = f"{_fmt(100 * r.ci95[0])}–{_fmt(100 * r.ci95[1])}"
        lines.append(
            f"| {r.mode} | {_fmt(100 * r.accuracy)} | {ci} | {r.n} | {_fmt(r.mean_cost, 3)} | "
            f"{_fmt(r.p50_latency_ms, 0)} | {_fmt(r.p95_latency_ms, 0)} | {_fmt_extra(r.extra)} |"
        )
    return "\n".join(lines) + "\n"
