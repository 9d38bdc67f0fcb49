"""``peermind docs add|list|remove`` as a user runs them: real MiniLM, real SQLite, one process each.

Bad input is one line on stderr with exit status 2 (an oversized corpus, an unknown
document); skipped files are named with their reason; a second ``add`` embeds nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nodeproc import peermind

pytestmark = pytest.mark.integration


def test_docs_add_list_remove_and_their_errors(tmp_path: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    (docs / "tides.md").write_text("Tides are caused by the Moon's gravity.\n\nSpring tides happen at new moon.")
    (docs / "volcano.txt").write_text("Magma that reaches the surface is called lava.")
    (docs / "photo.jpg.txt").write_bytes(b"\xff\xd8\xff\x00JFIF")
    too_small = peermind("docs", "add", str(docs), "--data-dir", str(data),
                         env={"PEERMIND_KNOWLEDGE__MAX_CORPUS_BYTES": "50"}, timeout_s=300)
    assert too_small.returncode == 2
    error = too_small.stderr.strip().splitlines()[-1]
    assert error.startswith("peermind: stopped before") and "knowledge.max_corpus_bytes" in error
    assert "Traceback" not in too_small.stderr

    added = peermind("docs", "add", str(docs), "--data-dir", str(data), timeout_s=300)
    assert added.returncode == 0, added.stderr
    assert f"skipped {docs / 'photo.jpg.txt'}: binary file (NUL bytes)" in added.stderr
    assert "2 added" in added.stdout and "1 skipped" in added.stdout
    again = peermind("docs", "add", str(docs), "--data-dir", str(data), timeout_s=300)
    assert "2 unchanged" in again.stdout and "0 chunks embedded" in again.stdout

    listed = peermind("docs", "list", "--data-dir", str(data)).stdout
    assert "tides.md" in listed and "volcano.txt" in listed
    removed = peermind("docs", "remove", str(docs / "tides.md"), "--data-dir", str(data))
    assert removed.returncode == 0 and "tides.md" in removed.stdout
    assert "tides.md" not in peermind("docs", "list", "--data-dir", str(data)).stdout
    unknown = peermind("docs", "remove", "d0000", "--data-dir", str(data))
    assert unknown.returncode == 2 and unknown.stderr.strip() == (
        "peermind: no indexed document matches 'd0000' (see `peermind docs list`)")
