"""The words collaboration options accept (``mode``, ``escalate_to``, ``vote_rule``).

Kept in a module that imports nothing, so ``peermind ask`` can offer them as argparse
choices without loading the collaboration stack (libp2p, llama.cpp, Flower) that
``peermind.node.collab`` pulls in; ``collab.constraints`` validates requests against
these same tuples.
"""

from __future__ import annotations

__all__ = ["ESCALATE_TO", "MODES", "VOTE_RULES"]

MODES = ("auto", "local", "route", "cascade", "vote", "moa", "auction", "consult")
ESCALATE_TO = ("strongest", "vote")
VOTE_RULES = ("majority", "weighted")
