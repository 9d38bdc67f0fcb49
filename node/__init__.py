"""peermind.node: the peer daemon, and the client programs use to talk to it.

Ask a running node from Python::

    from peermind.node import NodeClient, ask

    answer = ask("Which gas do plants absorb?", api="127.0.0.1:8080", mode="cascade", budget_ms=5000)
    print(answer.text, answer.provenance["answered_by"], answer.provenance["escalated"])

    with NodeClient("127.0.0.1:8080") as client:
        scores, provenance = client.score("Question: 2+2?\\nAnswer:", [" 3", " 4"], mode="vote")
        client.feedback(provenance["task_id"], correct=True)

Modes: auto, local, route, cascade, vote, moa, auction (see peermind.node.collab).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import ApiRequestFailed, ApiUnreachable, AskResult, ClientError, NodeClient, ask

__all__ = ["ApiRequestFailed", "ApiUnreachable", "AskResult", "ClientError", "NodeClient", "ask"]


def __getattr__(name: str) -> object:
    """The client loads on first use: every process that imports any part of the node (the
    daemon, each Flower app process) would otherwise pay for httpx (~90 ms, ~18 MB)."""
    if name in __all__:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
