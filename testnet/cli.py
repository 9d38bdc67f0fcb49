"""``peermind testnet ...``: a local multi-process network in one command.

Registration imports only light modules (every ``peermind`` command builds the whole
parser); the launcher and the status probe load when a command runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._faults import SIGNAL_FAULTS
from ._links import parse_link, parse_link_arg
from ._profiles import PROFILES
from .errors import TestnetError

if TYPE_CHECKING:
    from ._launcher import Testnet
    from ._state import NodeInfo


def _testnet(directory: Path | None) -> Testnet:
    from ._launcher import Testnet

    return Testnet(directory)


def _say(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def _table(nodes: list[NodeInfo], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from ._status import collect

    statuses = collect(nodes)
    table = Table(title=title)
    for col in ("node", "peer id", "model (threads, cost/1k)", "api", "pid", "state", "peers seen", "RSS MiB", "PSS MiB", "role", "fault"):
        table.add_column(col, no_wrap=True)
    others = max(0, len(nodes) - 1)
    for s in statuses:
        n = s.node
        state = {"up": "[green]up[/]", "paused": "[yellow]paused[/]", "down": "[red]down[/]"}[s.state]
        seen = "-" if s.state == "down" else ("no answer" if s.peers_seen is None else f"{s.peers_seen}/{others}")
        table.add_row(
            n.name, n.peer_id[-10:] if n.peer_id else "?", f"{n.model} ({n.threads}, {n.cost_per_1k:g})",
            n.api or "?", str(n.pid), state, seen,
            f"{s.rss_mb:.0f}" if s.rss_mb is not None else "-", f"{s.pss_mb:.0f}" if s.pss_mb is not None else "-",
            n.role or "-", n.fault if n.fault_running() else "-",
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
    pss = [s.pss_mb for s in statuses if s.pss_mb is not None]
    if pss:
        console.print(f"total PSS of live nodes: {sum(pss):.0f} MiB (shared model pages counted once)")


def _roles(nodes: int, specs: list[str] | None) -> list[str]:
    roles: list[str] = []
    for item in specs or []:
        role, _, count = item.partition(":")
        if not role or not (count or "1").isdigit() or int(count or 1) < 1:
            raise TestnetError(f"--adversary takes ROLE:COUNT (e.g. wrong:1), got {item!r}")
        roles += [role] * int(count or 1)
    if len(roles) >= nodes:
        raise TestnetError(f"{len(roles)} adversaries need at least {len(roles) + 1} nodes (node-0, the bootstrap, stays honest)")
    # Adversaries go last so node-0 (the bootstrap) is honest.
    return [""] * (nodes - len(roles)) + roles


def cmd_up(args: argparse.Namespace) -> int:
    net = _testnet(args.dir)
    roles = _roles(args.nodes, args.adversary)
    light = f" + {args.light} light" if args.light else ""
    links = dict(parse_link_arg(x) for x in args.link) if args.link else None  # a bad --link fails before anything
    if net.dir.exists() and not net.dir.is_dir():
        raise TestnetError(f"{net.dir} already exists and is not a directory (give a directory path)")
    print(f"starting {args.nodes} nodes ({args.profile}){light} in {net.dir}", file=sys.stderr)
    started = time.monotonic()
    nodes = net.up(args.nodes, profile=args.profile, roles=roles, progress=_say, threads=args.threads,
                   timeout_s=args.timeout, light=args.light, links=links)
    _table(nodes, f"testnet up in {time.monotonic() - started:.1f}s")
    print(f"ask through any node: peermind ask --api {nodes[0].api} \"What is the capital of France?\"", file=sys.stderr)
    print(f"stop it with: peermind testnet down --dir {net.dir}", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    net = _testnet(args.dir)
    network, nodes = net.load()
    orphans = net.orphans(nodes)
    if not nodes:
        print(f"no testnet in {net.dir}")
    else:
        _table(nodes, f"testnet {network} in {net.dir}")
        if not any(n.alive() for n in nodes):
            print(f"every node is down (a crashed run?): `peermind testnet up --dir {net.dir}` recovers, "
                  f"`peermind testnet down --dir {net.dir}` clears the state", file=sys.stderr)
    if orphans:
        print(f"warning: processes of this directory not in its state file: {orphans}; "
              f"`peermind testnet down --dir {net.dir}` stops them", file=sys.stderr)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    node = _testnet(args.dir).find(args.node)
    if not args.follow:
        print(node.log_tail(args.lines))
        return 0
    with open(node.log, errors="replace") as log:
        print(node.log_tail(args.lines))
        log.seek(0, 2)
        while True:
            line = log.readline()
            if line:
                print(line, end="", flush=True)
            elif not node.alive():
                print(f"({node.name} is not running)", file=sys.stderr)
                return 0
            else:
                time.sleep(0.3)


def cmd_down(args: argparse.Namespace) -> int:
    stopped = _testnet(args.dir).down(progress=_say)
    print(f"stopped {stopped} processes")
    return 0


def cmd_fault(args: argparse.Namespace) -> int:
    net = _testnet(args.dir)
    if args.action in SIGNAL_FAULTS:
        node = net.signal(args.node, SIGNAL_FAULTS[args.action])
        print(f"{args.action}: {node.name} (pid {node.pid})")
    elif args.action == "clear":
        print(net.clear_fault(args.node))
    elif args.action == "degrade":
        if not args.link:
            raise TestnetError("degrade needs --link SETTINGS (e.g. --link rtt=200ms,bw=1mbit,loss=2%)")
        print(net.degrade(args.node, parse_link(args.link)))
    else:
        print(net.start_fault(args.node, args.action, factor=args.factor, seconds=args.seconds, period_s=args.period))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(_testnet(args.dir), nodes=args.nodes, questions=args.questions, warmup_s=args.warmup,
                    keep=args.keep, train=args.train)


FAULT_HELP = """\
kill    SIGKILL (a crash)            stop    SIGTERM (graceful exit)
pause   SIGSTOP (blackhole: connections stay open, nothing answers, peers time out)
resume  SIGCONT
slow    run the node 1/FACTOR of the time (a supervisor duty-cycles SIGSTOP/SIGCONT every
        --period s): compute takes ~FACTOR times longer, reads wait up to period*(1-1/FACTOR)
drop    destroy the node's peer TCP connections in the kernel (ss -K; needs root/CAP_NET_ADMIN);
        with --seconds S keep destroying them for S s (a partition; its API still answers)
degrade change the node's emulated link (testnet up with --link): --link rtt=200ms,bw=1mbit,loss=2%
        (latency and jitter as delay, bandwidth as pacing, loss as TCP retransmission timeouts)
clear   end slow/drop and resume the node
"""


def register(sub: Any) -> None:
    """Add the ``testnet`` command group to the ``peermind`` parser."""
    testnet = sub.add_parser("testnet", help="run a local network of real nodes").add_subparsers(dest="testnet_cmd", required=True, metavar="SUBCOMMAND")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--dir", type=Path, help="testnet directory (default ~/.cache/peermind/testnet)")
        return p

    up = common(testnet.add_parser("up", help="start N nodes on loopback and wait until all see each other"))
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--profile", choices=PROFILES, default="mix", help="mix: SmolLM2 and Gemma-3 tiers (default)")
    up.add_argument("--threads", type=int, help="llama.cpp threads for every node (default: 1 small, 2 large)")
    up.add_argument("--link", action="append", metavar="NODE:SETTINGS",
                    help="emulate NODE's network link, e.g. node-2:rtt=80ms,jitter=10ms,bw=2mbit,loss=1%% "
                         "(repeatable); with any --link every node sits behind a user-space link proxy, so "
                         "`fault degrade` can change any link later")
    up.add_argument("--light", type=int, default=0, metavar="N",
                    help="also start N light nodes (--model none: they route to peers and relay, load no model)")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for start-up and convergence")
    up.add_argument("--adversary", action="append", metavar="ROLE:COUNT", help="start COUNT nodes with an adversarial ROLE (wrong, garbage, forger, poisoner, flooder)")
    up.set_defaults(func=cmd_up)

    common(testnet.add_parser("status", help="table of the testnet's nodes: alive, peers seen, memory")).set_defaults(func=cmd_status)
    logs = common(testnet.add_parser("logs", help="the end of a node's log"))
    logs.add_argument("node", help="node name (node-0) or peer ID")
    logs.add_argument("--lines", type=int, default=40)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.set_defaults(func=cmd_logs)
    common(testnet.add_parser("down", help="stop every node (no orphans left)")).set_defaults(func=cmd_down)

    fault = common(testnet.add_parser("fault", help="inject a fault into a node", description=FAULT_HELP,
                                      formatter_class=argparse.RawDescriptionHelpFormatter))
    fault.add_argument("action", choices=[*sorted(SIGNAL_FAULTS), "slow", "drop", "degrade", "clear"])
    fault.add_argument("node", help="node name (node-1) or peer ID")
    fault.add_argument("--factor", type=float, default=3.0, help="slow: how many times slower (default 3)")
    fault.add_argument("--seconds", type=float, default=0.0, help="slow/drop: how long (default: slow until cleared, drop once)")
    fault.add_argument("--period", type=float, default=0.2, help="slow/drop: cycle length in seconds (default 0.2)")
    fault.add_argument("--link", metavar="SETTINGS", help="degrade: the node's new link, e.g. rtt=200ms,bw=1mbit,loss=2%%")
    fault.set_defaults(func=cmd_fault)

    demo = common(testnet.add_parser("demo", help="up, ask real benchmark questions through the network and each model "
                                                  "alone, report accuracy and cost, learn, crash a node, down"))
    demo.add_argument("--nodes", type=int, default=3)
    demo.add_argument("--questions", type=int, default=20, help="test-split questions to ask (default 20)")
    demo.add_argument("--warmup", type=float, default=60.0, metavar="SECONDS",
                      help="at most this long for the entry node to judge its peers before the questions (default 60)")
    demo.add_argument("--keep", action="store_true", help="leave the testnet running afterwards")
    demo.add_argument("--no-train", dest="train", action="store_false",
                      help="skip labelling train questions and the federated round (saves a minute or more)")
    demo.set_defaults(func=cmd_demo)
