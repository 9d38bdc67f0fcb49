"""The extension point for programs that run a modified node or prepare one offline.

``testnet/`` drives nodes from outside (the CLI, the HTTP API, ``peermind.node.client``),
with two exceptions that need more than a user has, and they build on these names only:

- **Test peers** (the testnet's adversaries) are ordinary node processes started with
  ``peermind.node.cli``'s ``node_factory`` hook: a subclass of :class:`Node` that overrides
  ``make_ad``/``run``, swaps its ``tasks`` service or ``verifier``, and speaks the task
  protocol (:data:`TASK_PROTOCOL`, :func:`make_request`) and the ads topic
  (:func:`ads_topic`) like any peer. The node package itself holds no adversarial code.
- **Benchmarks** that score items with the same LLM backend the nodes run
  (:class:`LlamaBackend`, :func:`resolve_model`) or write feedback rows into a node's
  :class:`Store` before it starts, and simulations of many peers that hold real ads in
  the node's own ad table (:class:`AdBoard`).

Everything else in ``peermind.node`` is internal and may move; these names stay. Loaded on
first use (PEP 562), so importing this module costs nothing until a name is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_attributes

if TYPE_CHECKING:
    from .daemon import ApiServer, Node
    from .llm import PRIORITY_OWN, LlamaBackend, resolve_model
    from .p2p.ads import AdBoard, ads_topic
    from .p2p.streams import BadReply, PeerCallError, PeerTimeout
    from .p2p.tasks import (
        TASK_PROTOCOL,
        ServedTask,
        TaskLimits,
        TaskRefused,
        TaskService,
        make_request,
    )
    from .store import Store

_HOMES = {
    "ApiServer": ".daemon",
    "Node": ".daemon",
    "PRIORITY_OWN": ".llm",
    "LlamaBackend": ".llm",
    "resolve_model": ".llm",
    "AdBoard": ".p2p.ads",
    "ads_topic": ".p2p.ads",
    "BadReply": ".p2p.streams",
    "PeerCallError": ".p2p.streams",
    "PeerTimeout": ".p2p.streams",
    "TASK_PROTOCOL": ".p2p.tasks",
    "ServedTask": ".p2p.tasks",
    "TaskLimits": ".p2p.tasks",
    "TaskRefused": ".p2p.tasks",
    "TaskService": ".p2p.tasks",
    "make_request": ".p2p.tasks",
    "Store": ".store",
}

__all__ = [
    "PRIORITY_OWN",
    "AdBoard",
    "TASK_PROTOCOL",
    "ApiServer",
    "BadReply",
    "LlamaBackend",
    "Node",
    "PeerCallError",
    "PeerTimeout",
    "ServedTask",
    "Store",
    "TaskLimits",
    "TaskRefused",
    "TaskService",
    "ads_topic",
    "make_request",
    "resolve_model",
]


__getattr__ = lazy_attributes(__name__, _HOMES, globals())
