"""Collaboration modes by name: each mode module registers its runner here.

A mode decides whom to ask and how to combine their replies; everything modes share
(candidates, router, asking, provenance) lives in ``policy.Collaborator``. Adding a mode
is one decorated coroutine in its own module, and the one list of valid names
(``peermind.node.collab_choices.MODES``, light enough for the CLI) is checked against
this registry by a test, so the names cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

from .errors import CollaborationError

if TYPE_CHECKING:
    from .answer import Answer
    from .policy import Collaborator, QueryContext
    from .utility import Estimate

ModeRunner: TypeAlias = "Callable[[Collaborator, QueryContext, list[Estimate]], Awaitable[Answer]]"

__all__ = ["ModeRunner", "register", "registered", "runner_for"]

_RUNNERS: dict[str, ModeRunner] = {}


def register(*names: str) -> Callable[[ModeRunner], ModeRunner]:
    """Decorator: make ``runner`` the implementation of the modes ``names``."""

    def add(runner: ModeRunner) -> ModeRunner:
        for name in names:
            if name in _RUNNERS and _RUNNERS[name] is not runner:
                raise CollaborationError(f"mode {name!r} is registered twice")
            _RUNNERS[name] = runner
        return runner

    return add


def registered() -> tuple[str, ...]:
    """The mode names with a runner."""
    return tuple(sorted(_RUNNERS))


def runner_for(mode: str) -> ModeRunner:
    """The runner of ``mode``; an unknown mode is a CollaborationError naming the valid ones."""
    try:
        return _RUNNERS[mode]
    except KeyError:
        raise CollaborationError(f"unknown mode {mode!r}; use one of {', '.join(registered())}") from None
