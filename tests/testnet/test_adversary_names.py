"""No attribute the daemon's Node sets on itself hides a method an adversary node defines.

The adversaries subclass the real daemon (``testnet/_adversary_base.py``). Session 11 gave
``Node`` an attribute ``known_peers``; ``AdversaryNode.known_peers()`` became an object, not a
method, and the flooder's and forger's attack loops died at once ("'KnownPeers' object is not
callable"), seen only when the adversary tests timed out. mypy does not flag an instance
attribute assigned in ``__init__`` over a subclass's method, so this test does.
"""

from __future__ import annotations

import ast
import inspect

from peermind.node.daemon import Node
from peermind.testnet._adversary_answers import GarbageNode, WrongNode
from peermind.testnet._adversary_base import AdversaryNode
from peermind.testnet._adversary_network import FlooderNode, ForgerNode
from peermind.testnet._adversary_sybil import SybilNode
from peermind.testnet._adversary_training import PoisonerNode

ROLES = (AdversaryNode, WrongNode, GarbageNode, ForgerNode, FlooderNode, SybilNode, PoisonerNode)


def _attributes_node_assigns() -> set[str]:
    """Every ``self.<name> = ...`` (or annotated) in Node's own methods."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(Node))):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                names.add(target.attr)
    return names


def test_no_node_attribute_shadows_an_adversary_method() -> None:
    assigned = _attributes_node_assigns()
    assert {"board", "store", "gossip"} <= assigned  # the walk finds Node's attributes
    clashes = {(role.__name__, name) for role in ROLES for name, value in vars(role).items()
               if callable(value) and name in assigned}
    assert clashes == set()
