"""Record every message this node sends, for wire audits (``PEERMIND_WIRE_TAP=FILE``).

libp2p encrypts the sockets (Noise), so a packet capture cannot show what peers tell
each other; this tap sits at the framing layer instead, before encryption: every frame
payload (signed msgpack envelopes on the task, outcome and negotiation protocols) and
every gossiped ad is appended to FILE as a frame (4-byte big-endian length, then the
bytes); ``peermind.protocol.split_frames`` reads them back.
When the value is an existing directory, each process writes ``DIR/wire-<pid>.tap`` (so
one setting serves a whole testnet). Off unless the variable is set; meant for tests and
``peermind bench knowledge``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from peermind.protocol import add_frame_tap, frame_bytes, split_frames

ENV_VAR = "PEERMIND_WIRE_TAP"


def install_from_env(env: Mapping[str, str] = os.environ) -> Path | None:
    """Start recording when ``PEERMIND_WIRE_TAP`` names a file; returns it (None: off)."""
    target = env.get(ENV_VAR, "").strip()
    if not target:
        return None
    path = Path(target)
    if path.is_dir():
        path = path / f"wire-{os.getpid()}.tap"
    out = path.open("ab", buffering=0)

    def record(data: bytes) -> None:
        out.write(frame_bytes(data))

    add_frame_tap(record)
    return path


def read_tap(path: Path) -> list[bytes]:
    """The recorded payloads, in the order they were sent (none if the file is missing)."""
    return split_frames(path.read_bytes()) if path.exists() else []
