"""Where a benchmark's results go: a JSON file and its markdown report beside it (``.md``).

Why one helper: every ``peermind bench ...`` command commits its figures as
``docs/results/NAME.json`` + ``NAME.md`` (the README quotes only those), so writing
both, and telling the user where they went, is done the same way everywhere.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["write_bench_results"]


def write_bench_results(out: Path, data: Mapping[str, object], markdown: str, *, show: bool = False) -> str:
    """Write ``data`` to ``out`` (JSON) and ``markdown`` beside it; returns the markdown.

    ``show``: also print the markdown (stdout) and the two paths written (stderr).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2))
    out.with_suffix(".md").write_text(markdown)
    if show:
        sys.stdout.write(markdown)
        print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
    return markdown
