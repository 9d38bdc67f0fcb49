"""The opening lines every evaluation report shares: command, when, how long, load, code."""

from __future__ import annotations

from typing import Any


def run_header(meta: dict[str, Any], title: str, per_dataset: str = "per dataset") -> list[str]:
    """Title, command and one line with the run's conditions (machine load noted, as figures need)."""
    lines = [f"# {title}", ""]
    if meta.get("command"):
        lines += [f"Command: `{meta['command']}`", ""]
    conditions = [f"Run {meta['started_at']}, {meta.get('wall_s', '?')} s wall, split `{meta['split']}`, "
                  f"limit {meta['limit']} {per_dataset}, seed {meta['seed']}"]
    if meta.get("load_start") is not None:
        conditions.append(f"machine load (1-min average) {meta['load_start']} at start, {meta.get('load_end')} at end")
    if meta.get("code"):
        conditions.append(f"code `{meta['code']}`")
    return lines + ["; ".join(conditions) + ".", ""]
