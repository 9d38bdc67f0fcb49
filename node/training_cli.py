"""``peermind train start|join|leave|status|history``: federated router training from the shell.

Every command talks to the local daemon's API (like `peermind ask`):

* ``start`` makes the local node coordinate a run and follows it live (polls
  ``/peermind/train/status`` once a second), printing each round and, at the
  end, every participant's adoption decision. ``--detach`` returns at once.
* ``join COORDINATOR`` makes the local node available for training (its ad
  says training=True, so coordinators invite it) and dials the coordinator,
  given as a multiaddr /ip4/.../tcp/PORT/p2p/ID or a known peer ID. Any
  coordinator can then invite it; ``leave`` stops accepting invitations.

Kept outside the ``training`` package, whose ``__init__`` loads Flower, libp2p and the
LLM stack: building the parser must stay cheap for every command, so the training client
is imported only when a ``train`` command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

from .cli_errors import Subcommands
from .json_types import as_list, as_object

if TYPE_CHECKING:
    from .client import NodeClient
    from .training.client import TrainingClient

POLL_S = 1.0
ClientFactory = Callable[[argparse.Namespace], "NodeClient"]


def _fmt(value: object, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _short(peer: str) -> str:
    return f"{peer[:8]}…{peer[-4:]}" if len(peer) > 14 else peer


def _size(value: object) -> int:
    return len(value) if isinstance(value, list | dict) else 0


def round_line(rd: Mapping[str, object], rounds: object) -> str:
    """One line per federated round (of ``rounds``): participants, excluded peers, metrics."""
    val = as_object(rd.get("validation"))
    parts = [
        f"round {rd['round']}/{rounds}",
        f"{_size(rd.get('participants'))} of {_size(rd.get('asked'))} took part",
        f"val choice-acc {_fmt(val.get('choice-accuracy'))}",
        f"log-loss {_fmt(val.get('log-loss'))}",
        f"{_fmt(rd.get('duration_s'), 1)} s",
    ]
    line = ", ".join(parts)
    for label, key in (("failed", "failed"), ("excluded", "excluded")):
        entries = as_object(rd.get(key))
        if entries:
            line += f"\n    {label}: " + "; ".join(f"{_short(p)} ({why})" for p, why in entries.items())
    clipped = as_object(rd.get("clipped"))
    if clipped:
        line += "\n    scaled down: " + ", ".join(f"{_short(p)} x{s:.2f}" for p, s in clipped.items())
    return line


def print_run(run: Mapping[str, object], *, out: TextIO = sys.stdout) -> None:
    """A training run as the CLI prints it: request, state, rounds."""
    req = as_object(run["request"])
    print(f"run {run['run_id']} ({req['engine']}, {req['strategy']}): {run['state']}"
          f" after {run['elapsed_s']:.1f} s", file=out)
    if run.get("accepted"):
        print(f"  participants: {', '.join(_short(p) for p in as_object(run['accepted']))}", file=out)
    for peer, why in as_object(run.get("refused")).items():
        print(f"  refused: {_short(peer)}: {why}", file=out)
    privacy = as_object(run.get("privacy"))
    if privacy.get("clipping"):
        print(f"  privacy: clipping norm {as_object(privacy['clipping']).get('clipping_norm')}; noise "
              f"{json.dumps(privacy.get('noise'))}", file=out)
    for rd in as_list(run.get("rounds")):
        print("  " + round_line(as_object(rd), req["rounds"]), file=out)
    for peer, decision in as_object(run.get("adoption")).items():
        d = as_object(decision)
        if "error" in d:
            print(f"  {_short(peer)}: no decision ({d['error']})", file=out)
        else:
            verdict = "adopted" if d.get("adopted") else "kept its router"
            print(f"  {_short(peer)}: {verdict}: {d.get('reason', '')}", file=out)
    if run.get("error"):
        print(f"  error: {run['error']}", file=out)


def cmd_start(args: argparse.Namespace, client: TrainingClient) -> int:
    """``peermind train start``: coordinate a federated run."""
    with client:
        run = client.train_start(
            rounds=args.rounds, min_nodes=args.min_nodes, strategy=args.strategy,
            engine=args.engine, round_timeout_s=args.round_timeout,
            local_epochs=args.local_epochs, clip_norm=args.clip_norm,
            adopt=not args.no_adopt,
        )
        run_id = run["run_id"]
        print(f"run {run_id} started: {args.rounds} rounds, min {args.min_nodes} nodes, "
              f"{args.strategy}, engine {args.engine}", file=sys.stderr)
        if args.detach:
            print(run_id)
            return 0
        shown = 0
        state = run["state"]
        while True:
            run = client.train_status(run_id)["run"]
            if run["state"] != state:
                state = run["state"]
                print(f"  {state}…", file=sys.stderr)
            for rd in run["rounds"][shown:]:
                print("  " + round_line(rd, args.rounds), file=sys.stderr, flush=True)
            shown = len(run["rounds"])
            if run["state"] in ("done", "failed"):
                break
            time.sleep(POLL_S)
    if args.json:
        print(json.dumps(run, indent=2))
    else:
        print_run(run)
    return 0 if run["state"] == "done" else 1


def cmd_join(args: argparse.Namespace, client: TrainingClient) -> int:
    """``peermind train join``: take part in a coordinator's runs."""
    with client:
        result = client.train_join(args.coordinator)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("this node now takes part in training runs (its ad says training=true)")
    if result.get("coordinator"):
        seen = "sees its ad" if result.get("coordinator_ad") else "has no ad from it yet"
        print(f"connected to coordinator {result['coordinator']} ({seen}); "
              "it can now invite this node with `peermind train start`")
    return 0


def cmd_leave(args: argparse.Namespace, client: TrainingClient) -> int:
    """``peermind train leave``: stop taking part."""
    with client:
        client.train_leave()
    print("this node no longer accepts training invitations (runs it is in finish)")
    return 0


def cmd_status(args: argparse.Namespace, client: TrainingClient) -> int:
    """``peermind train status``: the current or named run."""
    with client:
        body = client.train_status(args.run, audit=args.audit)
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    print(f"training: {'available' if body['available'] else 'not joining'}; engines "
          f"{', '.join(body['engines'])}; local DP {body.get('local_dp') or 'off'}")
    if body.get("runs_joined"):
        print(f"taking part in runs: {', '.join(body['runs_joined'])}")
    if body.get("run"):
        print_run(body["run"])
    else:
        print("no run coordinated by this node yet")
    return 0


def cmd_history(args: argparse.Namespace, client: TrainingClient) -> int:
    """``peermind train history``: the rounds this node recorded."""
    with client:
        rounds = client.train_history(args.limit)
    if args.json:
        print(json.dumps(rounds, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="training rounds recorded by this node")
    for col in ("run", "round", "role", "participants", "dropped", "key metrics", "adopted"):
        table.add_column(col)
    for r in rounds:
        m = r["metrics"]
        val = m.get("validation") or {}
        if r["role"] == "coordinator":
            key = f"val choice-acc {_fmt(val.get('choice-accuracy'))}, {_fmt(m.get('duration_s'), 1)} s"
        elif r["role"] == "adoption":
            key = f"log-loss {_fmt(m.get('current_log_loss'))} -> {_fmt(m.get('candidate_log_loss'))}"
        else:
            key = f"train-loss {_fmt(m.get('train-loss'))}, {m.get('num-examples', '-')} rows"
        table.add_row(r["run_id"][-8:], str(r["round"]), r["role"], str(len(r["participants"])),
                      str(len(r["excluded"])), key, "yes" if r["adopted"] else "")
    Console().print(table)
    return 0


def register(sub: Subcommands, client_factory: ClientFactory, add_api_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``train`` command group to the ``peermind`` parser."""

    def bind(fn: Callable[[argparse.Namespace, TrainingClient], int]) -> Callable[[argparse.Namespace], int]:
        def run(args: argparse.Namespace) -> int:  # loads the training package only when a command runs
            from .training.client import TrainingClient

            return fn(args, TrainingClient.wrap(client_factory(args)))

        return run

    train = sub.add_parser("train", help="federated router training (Flower)").add_subparsers(
        dest="train_cmd", required=True, metavar="SUBCOMMAND")

    start = train.add_parser("start", help="coordinate a training run from this node and follow it")
    add_api_arg(start)
    start.add_argument("--rounds", type=int, default=3, help="federated rounds (default 3)")
    start.add_argument("--min-nodes", type=int, default=2, help="fewest nodes a round may have (default 2)")
    start.add_argument("--strategy", default="fedavg",
                       choices=["fedavg", "trimmed", "median", "multikrum", "reputation"],
                       help="aggregation; reputation = weighted by this node's trust scores (default fedavg)")
    start.add_argument("--engine", default="p2p", choices=["p2p", "flower"],
                       help="p2p: Flower over libp2p streams (default); flower: SuperLink/SuperNode processes")
    start.add_argument("--round-timeout", type=float, default=30.0, help="seconds each round phase may take")
    start.add_argument("--local-epochs", type=int, default=10, help="local training epochs per round")
    start.add_argument("--clip-norm", type=float, help="clip each update to this L2 norm (client-side DP clipping)")
    start.add_argument("--no-adopt", action="store_true", help="do not push the result to the participants")
    start.add_argument("--detach", action="store_true", help="print the run ID and return at once")
    start.add_argument("--json", action="store_true", help="print the final run as JSON")
    start.set_defaults(func=bind(cmd_start))

    join = train.add_parser("join", help="take part in training and connect to a coordinator")
    add_api_arg(join)
    join.add_argument("coordinator", nargs="?", help="multiaddr /ip4/.../tcp/PORT/p2p/ID or a known peer ID")
    join.add_argument("--json", action="store_true")
    join.set_defaults(func=bind(cmd_join))

    leave = train.add_parser("leave", help="stop accepting training invitations")
    add_api_arg(leave)
    leave.set_defaults(func=bind(cmd_leave))

    status = train.add_parser("status", help="this node's training state and its current run")
    add_api_arg(status)
    status.add_argument("--run", help="a run ID this node coordinated")
    status.add_argument("--audit", action="store_true", help="include what each participant sent (record names, shapes)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=bind(cmd_status))

    history = train.add_parser("history", help="rounds this node recorded (coordinator, participant, adoption)")
    add_api_arg(history)
    history.add_argument("--limit", type=int, default=30)
    history.add_argument("--json", action="store_true")
    history.set_defaults(func=bind(cmd_history))
