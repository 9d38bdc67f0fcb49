"""The types of JSON values the node reads and writes (HTTP bodies, status, reports).

Why an alias rather than ``Any``: a JSON document is a closed set of shapes, and naming
it lets the type checker see where a status dict, a request body or a report flows,
and makes code that reads one narrow what it takes out.
"""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["JsonObject", "JsonScalar", "JsonValue"]

JsonScalar: TypeAlias = "None | bool | int | float | str"
JsonValue: TypeAlias = "JsonScalar | list[JsonValue] | dict[str, JsonValue]"
JsonObject: TypeAlias = "dict[str, JsonValue]"
