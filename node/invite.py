"""Invite tokens: a network name plus dialable addresses, in one copy-pasteable string."""

from __future__ import annotations

import base64
import json

from .errors import ConfigError

PREFIX = "pmi1."


def make_invite(network: str, addrs: list[str]) -> str:
    payload = json.dumps({"n": network, "a": addrs}, separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(payload).decode().rstrip("=")


def read_invite(token: str) -> tuple[str, list[str]]:
    """Return (network, bootstrap addrs); ``ConfigError`` if the token is not one of ours."""
    token = token.strip()
    if not token.startswith(PREFIX):
        raise ConfigError(f"--join: not a peermind invite token (expected it to start with {PREFIX!r})")
    body = token[len(PREFIX):]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        network, addrs = data["n"], data["a"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--join: the invite token is damaged ({exc}); ask for a fresh one") from exc
    if not isinstance(network, str) or not isinstance(addrs, list) or not all(isinstance(a, str) for a in addrs):
        raise ConfigError("--join: the invite token has the wrong shape; ask for a fresh one")
    return network, addrs
