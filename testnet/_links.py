"""Emulated network links for a testnet on one machine (no netem on this kernel).

Every node gets an access link: latency (``rtt``), ``jitter``, bandwidth (``bw``) and
loss. A user-space proxy (``_link_proxy.py``, one process for the whole testnet) listens
in front of every node and every node advertises the proxy's address (``ads.announce``),
so each peer connection crosses exactly one proxy, which delays it by both ends' links:
one-way delay (rtt_a + rtt_b) / 2 plus jitter, the smaller bandwidth, and loss as TCP
sees it (a lost segment costs a retransmission timeout, max(200 ms, 2 x rtt): a TCP
stream cannot lose bytes). The links live in ``DIR/links.json``; ``fault degrade``
rewrites it and the proxy applies it to the next bytes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import TestnetError

LINKS_FILE = "links.json"

_UNITS_MS = {"ms": 1.0, "s": 1000.0}
_UNITS_BPS = {"bit": 1.0, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}


@dataclass(frozen=True)
class Link:
    rtt_ms: float = 0.0
    jitter_ms: float = 0.0
    bw_bps: float = 0.0  # 0: unlimited
    loss: float = 0.0  # per segment, in [0, 1)

    def describe(self) -> str:
        parts = [f"rtt={self.rtt_ms:g}ms"]
        if self.jitter_ms:
            parts.append(f"jitter={self.jitter_ms:g}ms")
        if self.bw_bps:
            parts.append(f"bw={self.bw_bps / 1e6:g}mbit")
        if self.loss:
            parts.append(f"loss={self.loss * 100:g}%")
        return ",".join(parts)


CLEAN = Link()


def parse_link(text: str) -> Link:
    """``rtt=80ms,jitter=10ms,bw=2mbit,loss=1%`` -> Link (any subset, any order)."""
    values: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, _, raw = item.partition("=")
        key, raw = key.strip().lower(), raw.strip().lower()
        if key in ("rtt", "jitter"):
            m = re.fullmatch(r"([0-9.]+)\s*(ms|s)?", raw)
            if not m:
                raise TestnetError(f"{key} takes a time such as 80ms, got {raw!r}")
            values[f"{key}_ms"] = float(m.group(1)) * _UNITS_MS[m.group(2) or "ms"]
        elif key == "bw":
            m = re.fullmatch(r"([0-9.]+)\s*(bit|kbit|mbit|gbit)", raw)
            if not m or float(m.group(1)) <= 0:
                raise TestnetError(f"bw takes a rate such as 2mbit or 500kbit, got {raw!r}")
            values["bw_bps"] = float(m.group(1)) * _UNITS_BPS[m.group(2)]
        elif key == "loss":
            m = re.fullmatch(r"([0-9.]+)\s*%", raw)
            if not m or not float(m.group(1)) < 100:
                raise TestnetError(f"loss takes a percentage below 100 such as 1%, got {raw!r}")
            values["loss"] = float(m.group(1)) / 100
        else:
            raise TestnetError(f"unknown link setting {key!r}: use rtt, jitter, bw, loss (e.g. rtt=80ms,bw=2mbit,loss=1%)")
    return Link(**values)


def parse_link_arg(text: str) -> tuple[str, Link]:
    """``node-2:rtt=80ms,bw=2mbit`` -> ("node-2", Link)."""
    name, sep, spec = text.partition(":")
    if not sep or not name.strip():
        raise TestnetError(f"--link takes NODE:SETTINGS (e.g. node-2:rtt=80ms,bw=2mbit,loss=1%), got {text!r}")
    return name.strip(), parse_link(spec)


@dataclass
class LinkEntry:
    """One node behind the proxy: where peers dial (``proxy_port``), where it listens, its link."""

    pid: int
    proxy_port: int
    target_port: int  # 0 until the node has started
    link: Link


def save_links(directory: Path, entries: dict[str, LinkEntry], proxy_pid: int = 0) -> None:
    data = {"proxy_pid": proxy_pid,
            "nodes": {name: {**asdict(e), "link": asdict(e.link)} for name, e in entries.items()}}
    path = directory / LINKS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def load_links(directory: Path) -> tuple[dict[str, LinkEntry], int]:
    path = directory / LINKS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}, 0
    except ValueError as exc:
        raise TestnetError(f"{path} is damaged ({exc}); `testnet down` and up again") from exc
    entries = {name: LinkEntry(pid=int(e["pid"]), proxy_port=int(e["proxy_port"]), target_port=int(e["target_port"]),
                               link=Link(**e["link"])) for name, e in data.get("nodes", {}).items()}
    return entries, int(data.get("proxy_pid", 0))


def path_link(a: Link, b: Link) -> Link:
    """The path between two nodes: both access links in series."""
    bws = [x for x in (a.bw_bps, b.bw_bps) if x > 0]
    return Link(rtt_ms=a.rtt_ms + b.rtt_ms, jitter_ms=a.jitter_ms + b.jitter_ms, bw_bps=min(bws) if bws else 0.0,
                loss=1 - (1 - a.loss) * (1 - b.loss))
