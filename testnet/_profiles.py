"""Testnet profiles: which model each node runs, like the paper's device and cloud tiers.

``mix`` alternates small SmolLM2-135M nodes (fast, cheap) with Gemma-3-270M nodes
(better, slower, dearer): one large node for every two small ones, at least one of each.
Like phones and servers, the tiers also differ in CPU budget (1 vs 2 llama.cpp threads)
and advertised price (0.1 vs 0.4 per 1k tokens). ``testnet up --threads 1`` flattens the
thread budgets, as tests on a shared 2-core machine should. The cloud tier's 2 threads are
capped at half the machine's cores: llama.cpp's threads spin while they wait for each other,
so two of them beside a busy SmolLM2 node on 2 cores made Gemma ~10x slower (start-up
self-measurement 86-110 s against 3-7 s with one thread, measured on this 2-core machine).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import TestnetError


@dataclass(frozen=True)
class NodeSpec:
    model: str
    cost_per_1k: float
    threads: int
    tags: tuple[str, ...]


SMALL = NodeSpec("smollm2", cost_per_1k=0.1, threads=1, tags=("tier:device",))
CLOUD_THREADS = max(1, min(2, (os.cpu_count() or 2) // 2))
LARGE = NodeSpec("gemma3-270m", cost_per_1k=0.4, threads=CLOUD_THREADS, tags=("tier:cloud",))
LIGHT = NodeSpec("none", cost_per_1k=0.0, threads=1, tags=("tier:light",))
"""A light node (``--model none``): joins, routes to peers and relays, serves no model."""

PROFILES = ("mix", "small", "large")


def plan(profile: str, n: int, light: int = 0) -> list[NodeSpec]:
    """``n`` model nodes of ``profile``, then ``light`` light nodes (node-0 always serves a model)."""
    if light < 0:
        raise TestnetError(f"--light takes a count of light nodes, got {light}")
    return _model_nodes(profile, n) + [LIGHT] * light


def _model_nodes(profile: str, n: int) -> list[NodeSpec]:
    if n < 1:
        raise TestnetError("a testnet needs at least one node")
    if profile == "small":
        return [SMALL] * n
    if profile == "large":
        return [LARGE] * n
    if profile == "mix":
        specs = [LARGE if i % 3 == 1 else SMALL for i in range(n)]
        if n >= 2 and LARGE not in specs:
            specs[-1] = LARGE
        return specs
    raise TestnetError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")


# Settings for the benchmark harnesses' own testnets. A benchmark client sends questions
# back to back through one entry node; with the default per-peer allowance (2 requests/s
# for trusted peers, a quarter for newcomers) the other peers would rightly throttle the
# entry as a flooder, and the benchmark would measure the rate limit, not the network.
BENCH_NODE_SETTINGS: tuple[str, ...] = ("trust.request_rate=50", "trust.request_burst=50")


def set_args(settings: tuple[str, ...] | list[str]) -> list[str]:
    """``--set KEY=VALUE`` arguments for ``peermind node run``."""
    return [arg for kv in settings for arg in ("--set", kv)]
