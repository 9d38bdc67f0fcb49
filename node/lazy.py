"""Module attributes imported on first use (PEP 562), for packages whose names are cheap to list
but expensive to load (Flower, libp2p, llama.cpp): the CLI imports them without paying for that."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_attributes(module: str, homes: Mapping[str, str], namespace: dict[str, object]) -> Callable[[str], object]:
    """A module-level ``__getattr__``: ``name`` comes from ``homes[name]`` (relative to the
    module's package) and is cached in ``namespace`` (the module's ``globals()``)."""
    anchor = str(namespace["__package__"])

    def __getattr__(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, anchor), name)
        namespace[name] = value
        return value

    return __getattr__
