"""Adversarial nodes for testnets: ``python -m peermind.testnet.adversary --role ROLE node run ...``.

The testnet launcher starts nodes with a role this way (``peermind testnet up --adversary
wrong:1``). Each role is the ordinary node daemon built from a subclass of the node's
public classes, handed to ``peermind node run`` through the CLI's ``node_factory``; testnet
takes them only from the documented extension point ``peermind.node.extension``, and the
node package itself contains no adversarial behaviour.

Roles: wrong (confidently wrong answers), garbage (malformed replies), forger (bad
signatures, replayed requests and ads), flooder (task request flood), poisoner (poisoned
federated updates), sybil (one light process running 50 fresh identities, each asking
within its own newcomer allowance). Active roles start attacking when ``DATA_DIR/adversary.go`` appears or
``PEERMIND_ADVERSARY_START_S`` (default 45) seconds after start-up; each writes its
actions to ``DATA_DIR/adversary.json``. Adversaries refuse networks whose name does not
start with ``testnet`` (``PEERMIND_ALLOW_ADVERSARY=1`` overrides).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._adversary_base import (
    GO_FILE,
    PAUSE_FILE,
    STATS_FILE,
    STOP_FILE,
    AdversaryNode,
    AdversaryStats,
    lure,
)

__all__ = ["GO_FILE", "PAUSE_FILE", "ROLES", "STATS_FILE", "STOP_FILE", "AdversaryNode", "AdversaryStats", "lure", "main", "role_class"]

ROLES = ("wrong", "garbage", "forger", "flooder", "poisoner", "sybil")
LIGHT_ROLES = ("sybil",)
"""Roles that serve no model: their process runs as a light node (``--model none``)."""


def role_class(role: str) -> type[AdversaryNode]:
    """The Node subclass implementing ``role`` (imports only what that role needs)."""
    if role in ("wrong", "garbage"):
        from ._adversary_answers import GarbageNode, WrongNode

        return WrongNode if role == "wrong" else GarbageNode
    if role in ("forger", "flooder"):
        from ._adversary_network import FlooderNode, ForgerNode

        return ForgerNode if role == "forger" else FlooderNode
    if role == "poisoner":
        from ._adversary_training import PoisonerNode

        return PoisonerNode
    if role == "sybil":
        from ._adversary_sybil import SybilNode

        return SybilNode
    raise ValueError(f"unknown adversary role {role!r}; choose one of {', '.join(ROLES)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m peermind.testnet.adversary",
        description="Run a node with an adversarial role (testnets only). The rest of the command "
        "line is a normal `peermind node run ...`.",
    )
    parser.add_argument("--role", required=True, choices=ROLES)
    ns, rest = parser.parse_known_args(argv)
    from peermind.node.cli import build_parser, cmd_node_run

    args: Any = build_parser().parse_args(rest)
    if getattr(args, "func", None) is not cmd_node_run:
        parser.error("the command after --role must be `node run ...`")
    args.node_factory = role_class(ns.role)
    if ns.role in LIGHT_ROLES:
        args.model = "none"
    niceness = int(os.environ.get("PEERMIND_ADVERSARY_NICE", "0") or 0)
    if niceness > 0:  # an attacker on its own machine: its CPU is not the honest nodes' (bench trust)
        lower_priority(niceness)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(niceness: int) -> None:
    """``os.nice`` and, where the kernel groups sessions (sched_autogroup), the session's group too.

    The testnet starts every node in its own session, so each is its own autogroup, and the
    scheduler shares the CPU between autogroups first: ``os.nice`` alone only ranks the
    adversary's threads among themselves and leaves its share against honest nodes unchanged.
    """
    os.nice(niceness)
    try:
        AUTOGROUP.write_text(str(niceness))
    except OSError:  # no autogroups (kernel, cgroup) here: os.nice is the whole story
        pass


if __name__ == "__main__":
    sys.exit(main())
