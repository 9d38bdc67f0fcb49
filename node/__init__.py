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

from .client import ApiRequestFailed, ApiUnreachable, AskResult, ClientError, NodeClient, ask

__all__ = ["ApiRequestFailed", "ApiUnreachable", "AskResult", "ClientError", "NodeClient", "ask"]
