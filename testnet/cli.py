"""``peermind testnet ...``: a local multi-process network in one command."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ._launcher import NodeInfo, Testnet
from ._profiles import PROFILES


def _say(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def _table(nodes: list[NodeInfo], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("node", "peer id", "model", "api", "status", "role"):
        table.add_column(col)
    for n in nodes:
        table.add_row(n.name, n.peer_id, n.model, n.api, "up" if n.alive() else "down", n.role or "-")
    Console().print(table)


def cmd_up(args: argparse.Namespace) -> int:
    net = Testnet(args.dir)
    roles: list[str] = []
    for item in args.adversary or []:
        role, _, count = item.partition(":")
        roles += [role] * int(count or 1)
    # Adversaries go last so node-0 (the bootstrap) is honest.
    roles = [""] * max(0, args.nodes - len(roles)) + roles
    print(f"starting {args.nodes} nodes ({args.profile}) in {net.dir}", file=sys.stderr)
    started = time.monotonic()
    nodes = net.up(args.nodes, profile=args.profile, roles=roles, progress=_say)
    _table(nodes, f"testnet up in {time.monotonic() - started:.1f}s")
    print(f"ask through any node: peermind ask --api {nodes[0].api} \"What is the capital of France?\"", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    net = Testnet(args.dir)
    network, nodes = net.load()
    if not nodes:
        print(f"no testnet in {net.dir}")
        return 0
    _table(nodes, f"testnet {network} in {net.dir}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    net = Testnet(args.dir)
    _network, nodes = net.load()
    for n in nodes:
        if args.node in (n.name, n.peer_id):
            print(n.log_tail(args.lines))
            return 0
    print(f"no node {args.node!r}; see `peermind testnet status`", file=sys.stderr)
    return 2


def cmd_down(args: argparse.Namespace) -> int:
    stopped = Testnet(args.dir).down(progress=_say)
    print(f"stopped {stopped} nodes")
    return 0


SIGNALS = {"kill": signal.SIGKILL, "pause": signal.SIGSTOP, "resume": signal.SIGCONT, "stop": signal.SIGTERM}


def cmd_fault(args: argparse.Namespace) -> int:
    node = Testnet(args.dir).signal(args.node, SIGNALS[args.action])
    print(f"{args.action}: {node.name} (pid {node.pid})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(Testnet(args.dir), nodes=args.nodes, questions=args.questions, keep=args.keep)


def register(sub: Any) -> None:
    """Add the ``testnet`` command group to the ``peermind`` parser."""
    testnet = sub.add_parser("testnet", help="run a local network of real nodes").add_subparsers(dest="testnet_cmd", required=True, metavar="SUBCOMMAND")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--dir", type=Path, help="testnet directory (default ~/.cache/peermind/testnet)")
        return p

    up = common(testnet.add_parser("up", help="start N nodes on loopback and wait until all see each other"))
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--profile", choices=PROFILES, default="mix", help="mix: SmolLM2 and Gemma-3 tiers (default)")
    up.add_argument("--adversary", action="append", metavar="ROLE:COUNT", help="start COUNT nodes with an adversarial ROLE (wrong, garbage, forger, poisoner, flooder)")
    up.set_defaults(func=cmd_up)

    common(testnet.add_parser("status", help="table of the testnet's nodes")).set_defaults(func=cmd_status)
    logs = common(testnet.add_parser("logs", help="the end of a node's log"))
    logs.add_argument("node", help="node name (node-0) or peer ID")
    logs.add_argument("--lines", type=int, default=40)
    logs.set_defaults(func=cmd_logs)
    common(testnet.add_parser("down", help="stop every node (no orphans left)")).set_defaults(func=cmd_down)

    fault = common(testnet.add_parser("fault", help="inject a fault: kill -9, pause (SIGSTOP), resume, stop"))
    fault.add_argument("action", choices=sorted(SIGNALS))
    fault.add_argument("node", help="node name (node-1) or peer ID")
    fault.set_defaults(func=cmd_fault)

    demo = common(testnet.add_parser("demo", help="up, ask real benchmark questions through the network, report, down"))
    demo.add_argument("--nodes", type=int, default=3)
    demo.add_argument("--questions", type=int, default=6)
    demo.add_argument("--keep", action="store_true", help="leave the testnet running afterwards")
    demo.set_defaults(func=cmd_demo)
