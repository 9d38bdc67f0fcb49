"""``peermind docs add|list|remove``: manage this node's local corpus (``knowledge.db`` in its data dir).

The commands work on the data directory directly, so they run with or without the node:
a running node sees the change at its next task and puts the new summary in its next ad.
Indexing prints one line per document (and one per skipped file, with the reason).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import NodeConfig
    from .knowledge import KnowledgeService

__all__ = ["register"]

ConfigFn = Callable[[argparse.Namespace], "NodeConfig"]


def register(sub: argparse._SubParsersAction, add_config_args: Callable[[argparse.ArgumentParser], None],
             config: ConfigFn) -> None:
    """Register ``peermind docs add|list|remove``."""
    docs = sub.add_parser("docs", help="this node's local documents (knowledge peers)").add_subparsers(
        dest="docs_cmd", required=True, metavar="SUBCOMMAND")
    add = docs.add_parser("add", help="index .txt/.md files (a folder is synced; unchanged files are skipped)")
    add_config_args(add)
    add.add_argument("path", type=Path, help="a folder (searched recursively) or one file")
    add.set_defaults(func=lambda a: _cmd_add(a, config(a)))
    listing = docs.add_parser("list", help="indexed documents with their ids and chunk counts")
    add_config_args(listing)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=lambda a: _cmd_list(a, config(a)))
    remove = docs.add_parser("remove", help="drop documents by id, path, or folder")
    add_config_args(remove)
    remove.add_argument("targets", nargs="+", help="document ids (from `docs list`), file paths or folders")
    remove.set_defaults(func=lambda a: _cmd_remove(a, config(a)))


def _service(cfg: NodeConfig) -> KnowledgeService:
    from .collab.embedding import QueryEmbedder
    from .knowledge import KnowledgeService
    from .knowledge.wiring import knowledge_settings

    return KnowledgeService(cfg.data_dir, QueryEmbedder().embed_many, knowledge_settings(cfg))


def _cmd_add(args: argparse.Namespace, cfg: NodeConfig) -> int:
    import trio

    from .knowledge import NotADocumentsDir

    if not (Path(args.path).is_file() or Path(args.path).is_dir()):  # before the embedder loads for seconds
        raise NotADocumentsDir(f"{args.path} is not a directory or file")
    service = _service(cfg)
    print(f"indexing {args.path} into {service.store.path} (loading the embedder first)", file=sys.stderr)
    report = trio.run(lambda: service.index(args.path, progress=lambda m: print(m, file=sys.stderr)))
    totals = service.store.totals()
    print(f"{report.summary()}; the corpus holds {len(service.store.documents())} documents, "
          f"{totals[1]} chunks, {totals[0]} bytes")
    return 0


def _cmd_list(args: argparse.Namespace, cfg: NodeConfig) -> int:
    from .knowledge import KnowledgeStore

    docs = KnowledgeStore(cfg.data_dir).documents()
    if args.json:
        print(json.dumps([d.__dict__ for d in docs], indent=2))
        return 0
    if not docs:
        print(f"no documents indexed in {cfg.data_dir}")
        return 0
    print(f"{'id':<17} {'chunks':>6} {'bytes':>9}  path")
    for d in docs:
        print(f"{d.doc_id:<17} {d.chunks:>6} {d.bytes:>9}  {d.path}")
    return 0


def _cmd_remove(args: argparse.Namespace, cfg: NodeConfig) -> int:
    from .knowledge import KnowledgeStore, UnknownDocument

    store = KnowledgeStore(cfg.data_dir)
    docs = store.documents()
    chosen: dict[str, str] = {}
    for target in args.targets:
        path = str(Path(target).expanduser().resolve())
        hits = [d for d in docs if target in (d.doc_id, d.path) or d.path == path or d.path.startswith(path + "/")]
        if not hits:
            raise UnknownDocument(f"no indexed document matches {target!r} (see `peermind docs list`)")
        chosen.update({d.doc_id: d.path for d in hits})
    store.remove(list(chosen))
    for doc_id, path in chosen.items():
        print(f"removed {doc_id} {path}")
    return 0
