"""Helpers shared by the trust tests: realistic peer IDs and a settable clock."""

from __future__ import annotations

import hashlib

import base58

# Multihash "identity" prefix of an Ed25519 libp2p public key: IDs start "12D3KooW".
_ED25519_PREFIX = b"\x00\x24\x08\x01\x12\x20"


def pid(name: str) -> str:
    """A deterministic, well-formed Ed25519-style peer ID for ``name``."""
    return base58.b58encode(_ED25519_PREFIX + hashlib.sha256(name.encode()).digest()).decode()


class Clock:
    """A clock the test moves by hand (callable like time.time)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t
