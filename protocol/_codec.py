"""Canonical msgpack encoding and the strict decoder for message bodies.

Canonical form (what we emit, so signatures and test vectors are
reproducible): ``use_bin_type`` (bytes -> bin, str -> str), map keys are
strings sorted bytewise by their UTF-8 encoding, integers in the smallest
msgpack form, floats as float64, no ext types. Receivers do not re-encode:
they verify the bytes as received, and the strict body decoder only rejects
what would make a body ambiguous across implementations (duplicate or
non-string keys, ext/timestamp types).
"""

from __future__ import annotations

from typing import Any

import msgpack

_MAP_HEADERS = frozenset([*range(0x80, 0x90), 0xDE, 0xDF])
_FORBIDDEN = (msgpack.ExtType, msgpack.Timestamp)


class BodyEncodingError(ValueError):
    """Internal: a body uses msgpack features the protocol forbids."""


def pack(obj: Any) -> bytes:
    """msgpack-encode with the protocol's settings (no key sorting: see canonicalize)."""
    return msgpack.packb(obj, use_bin_type=True, use_single_float=False, datetime=False)


def canonicalize(obj: Any) -> Any:
    """Recursively sort map keys bytewise (for bodies not built by a schema)."""
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise TypeError(f"map keys must be strings, got {type(key).__name__}")
        return {k: canonicalize(obj[k]) for k in sorted(obj, key=lambda k: k.encode())}
    if isinstance(obj, list | tuple):
        return [canonicalize(v) for v in obj]
    return obj


def is_map_header(first_byte: int) -> bool:
    """True if a msgpack object starting with this byte is a map."""
    return first_byte in _MAP_HEADERS


def _pairs_hook(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise BodyEncodingError("a map repeats a key")
    for key, value in pairs:
        if type(key) is not str:
            raise BodyEncodingError(f"map keys must be strings, got {type(key).__name__}")
        if isinstance(value, _FORBIDDEN):
            raise BodyEncodingError("ext types are not allowed")
    return out


def _list_hook(items: list[Any]) -> list[Any]:
    for value in items:
        if isinstance(value, _FORBIDDEN):
            raise BodyEncodingError("ext types are not allowed")
    return items


def _reject_ext(code: int, data: bytes) -> Any:
    raise BodyEncodingError(f"ext type {code} is not allowed")


def decode_body(buf: bytes | memoryview) -> dict[str, Any]:
    """Decode an (already length-checked) body map strictly.

    Raises any exception on bad input; the caller turns it into a typed
    protocol error.
    """
    body = msgpack.unpackb(
        buf,
        raw=False,
        use_list=True,
        strict_map_key=False,  # _pairs_hook gives a clearer message
        object_pairs_hook=_pairs_hook,
        list_hook=_list_hook,
        ext_hook=_reject_ext,
    )
    if not isinstance(body, dict):
        raise BodyEncodingError("the body must be a map")
    return body
