"""The types of JSON values the node reads and writes (HTTP bodies, status, reports).

Why an alias rather than ``Any``: a JSON document is a closed set of shapes, and naming
it lets the type checker see where a status dict, a request body or a report flows,
and makes code that reads one narrow what it takes out.
"""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["JsonObject", "JsonScalar", "JsonValue", "as_list", "as_number", "as_object"]

JsonScalar: TypeAlias = "None | bool | int | float | str"
JsonValue: TypeAlias = "JsonScalar | list[JsonValue] | dict[str, JsonValue]"
JsonObject: TypeAlias = "dict[str, JsonValue]"


def as_object(value: object) -> dict[str, object]:
    """``value`` if it is a JSON object, else ``{}``: read a document whose shape is not
    guaranteed (another node's status, a section that failed) without a ``KeyError``."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[object]:
    """``value`` if it is a JSON array, else ``[]`` (see ``as_object``)."""
    return value if isinstance(value, list) else []


def as_number(value: object, default: float = 0.0) -> float:
    """``value`` as a float if it is a JSON number (not a bool), else ``default``."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
