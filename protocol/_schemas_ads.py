"""Capability advertisements, gossiped on ``peermind/<network>/ads/1``.

An ad tells other peers what this node can run, how busy it is and what it
charges, so routers can rank peers without asking each one. Ads are
periodic and replace each other by ``seq``; ``ttl_s`` bounds how long a
receiver may trust one without a refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from ._fields import Count, Label, NonNegFloat
from ._schema import Limits, Message
from ._schemas_knowledge import KnowledgeSummary


@dataclass(frozen=True, kw_only=True)
class ModelInfo(Message):
    """One locally served model and its measured speed."""

    name: Annotated[str, Limits(min_len=1, max_len=128)]
    family: Label = ""
    params_m: Annotated[float, Limits(ge=0.0, le=1e7)] = 0.0
    """Parameters in millions."""
    quant: Annotated[str, Limits(max_len=32)] = ""
    n_ctx: Annotated[int, Limits(ge=0, le=10_000_000)] = 0
    size_mb: Annotated[float, Limits(ge=0.0, le=1e7)] = 0.0
    prompt_tps: NonNegFloat = 0.0
    """Measured prompt-processing tokens per second."""
    gen_tps: NonNegFloat = 0.0
    """Measured generation tokens per second."""
    chat: bool = False
    """True if the model has a chat template (accepts ``messages``)."""


@dataclass(frozen=True, kw_only=True)
class CapabilityAd(Message):
    """What a peer offers right now."""

    TYPE: ClassVar[str] = "ad.capability"

    network: Annotated[str, Limits(min_len=1, max_len=64, pattern=r"[A-Za-z0-9._-]+")]
    """Network name; also part of the gossip topic, hence the restricted alphabet."""
    addrs: Annotated[list[Annotated[str, Limits(min_len=1, max_len=256)]], Limits(max_items=16)] = (
        field(default_factory=list)
    )
    """Listen multiaddrs (text form)."""
    models: Annotated[list[ModelInfo], Limits(max_items=8)] = field(default_factory=list)
    queue_depth: Annotated[int, Limits(ge=0, le=1_000_000)] = 0
    max_queue: Annotated[int, Limits(ge=0, le=1_000_000)] = 0
    max_concurrency: Annotated[int, Limits(ge=1, le=1024)] = 1
    load: Annotated[float, Limits(ge=0.0, le=1e6)] = 0.0
    cost_per_1k: NonNegFloat = 0.0
    """Price per 1000 generated tokens, in the network's accounting unit."""
    tags: Annotated[list[Label], Limits(max_items=32)] = field(default_factory=list)
    skills: Annotated[list[Label], Limits(max_items=32)] = field(default_factory=list)
    ttl_s: Annotated[int, Limits(ge=1, le=86_400)]
    seq: Count
    """Monotonic per peer: a receiver keeps the ad with the highest seq."""
    training: bool = False
    """True if the peer takes part in federated training rounds."""
    api_version: Annotated[str, Limits(min_len=1, max_len=16)] = "1"
    pow_nonce: Annotated[int, Limits(ge=0, le=2**64 - 1)] = 0
    """Optional proof-of-work nonce (anti-Sybil); 0 when unused."""
    ram_mb: Annotated[int, Limits(ge=0, le=2**40)] = 0
    member_proof: Annotated[bytes, Limits(max_len=64)] | None = None
    """Private networks: HMAC proving the signer holds the network's secret (SPEC 9.1)."""
    admission: Annotated[bytes, Limits(max_len=128)] | None = None
    """Networks with admitting peers: an admission one of them signed for the signer (SPEC 7.1)."""
    knowledge: KnowledgeSummary | None = None
    """Summary of the peer's local corpus (knowledge peers only); never text."""
