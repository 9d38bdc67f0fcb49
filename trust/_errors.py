"""Exceptions raised by ``peermind.trust``.

One base class so the node can catch everything from this package in one
place; narrow subclasses so callers can react to the specific problem
(back off on :class:`RateLimited`, ask for a new proof on
:class:`InsufficientWork`, ...).
"""

from __future__ import annotations

import math

__all__ = [
    "InsufficientWork",
    "InvalidInput",
    "RateLimited",
    "TrustError",
    "UnknownPeer",
]


class TrustError(Exception):
    """Base class of every error raised by peermind.trust."""


class InvalidInput(TrustError, ValueError):
    """A value handed to the trust package is malformed (bad peer ID, weight, row, ...).

    Also a ``ValueError`` so generic input-validation handlers catch it.
    """


class UnknownPeer(TrustError, KeyError):
    """The book holds no evidence at all about the requested peer."""

    def __init__(self, peer: str, prior: float | None = None) -> None:
        self.peer = peer
        hint = f"; it is scored at the newcomer prior {prior:.2f}" if prior is not None else ""
        super().__init__(f"no evidence recorded about peer {peer!r}{hint}")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class RateLimited(TrustError):
    """A peer (or a local caller) used up its allowance; retry after ``retry_after_s``."""

    def __init__(
        self,
        retry_after_s: float,
        *,
        peer: str | None = None,
        kind: str | None = None,
        detail: str = "",
    ) -> None:
        self.retry_after_s = retry_after_s
        self.peer = peer
        self.kind = kind
        who = f"peer {peer!r} " if peer else ""
        what = f"the {kind} limit" if kind else "its rate limit"
        wait = (
            "never (cost exceeds capacity)"
            if math.isinf(retry_after_s)
            else f"{retry_after_s:.3g} s"
        )
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{who}exceeded {what}{extra}; retry after {wait}")


class InsufficientWork(TrustError):
    """A proof of work does not reach the required difficulty; solve the challenge again."""

    def __init__(self, difficulty_bits: int, peer: str | None = None) -> None:
        self.difficulty_bits = difficulty_bits
        self.peer = peer
        who = f" from peer {peer!r}" if peer else ""
        super().__init__(
            f"proof of work{who} does not have {difficulty_bits} leading zero bits; "
            "solve pow_challenge(peer_id, network) with that difficulty and resend the nonce"
        )
