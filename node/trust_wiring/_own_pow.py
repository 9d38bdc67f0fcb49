"""This node's own proof of work: solved once per identity, kept in the data directory.

Solving costs ~2**bits hashes (20 bits: about half a second here), so it runs once in a
worker thread and the nonce is stored in ``trust-pow.json`` next to the key; a nonce
found for more bits also satisfies fewer, so a stored one is reused when it still fits.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import trio
from peermind.trust import ProofOfWork

log = logging.getLogger("peermind.node.trust")

__all__ = ["POW_FILE", "load_or_solve_pow"]

POW_FILE = "trust-pow.json"


def _stored_nonce(path: Path, pow_: ProofOfWork, peer_id: str) -> int | None:
    try:
        data = json.loads(path.read_text())
        nonce = data["nonce"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if data.get("peer_id") != peer_id or data.get("network") != pow_.network:
        return None
    return nonce if isinstance(nonce, int) and pow_.verify(peer_id, nonce) else None


async def load_or_solve_pow(data_dir: Path, pow_: ProofOfWork, peer_id: str) -> int:
    """The nonce proving ``pow_.difficulty_bits`` of work for ``peer_id`` (0 when none is required)."""
    if pow_.difficulty_bits == 0:
        return 0
    path = data_dir / POW_FILE
    nonce = _stored_nonce(path, pow_, peer_id)
    if nonce is not None:
        return nonce
    log.info("solving the identity's proof of work", extra={"bits": pow_.difficulty_bits})
    solved: int = await trio.to_thread.run_sync(pow_.solve, peer_id)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"peer_id": peer_id, "network": pow_.network,
                               "bits": pow_.difficulty_bits, "nonce": solved}))
    os.replace(tmp, path)
    return solved
