"""Light nodes (``peermind node run --model none``): join, route and relay, serve no model.

Many devices can carry a peer but not a model; they still route their users' questions
to peers, relay gossip and add to the DHT. A light node loads no GGUF file, advertises an
ad with no models (so no router ever offers it a task and no canary is ever sent to it),
refuses peers' tasks with ``unsupported`` and answers its own users only through peers.

It verifies nobody itself: it has no model to answer canaries with (their difficulty
estimate) and every labelled row would load the 440 MB query embedder, which would undo
the point of being light. So canaries, probes, cross-checks and idle learning are off;
it goes by the global-trust opinions its peers gossip and by routing weight
(``trust_wiring``), like any node that checks nobody itself.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import NoReturn

from .config import NodeConfig
from .llm import EngineOptions, LlamaBackend, LLMError, Measurement, ModelProfile

log = logging.getLogger("peermind.node")

NO_MODEL = "none"
"""The ``--model`` value of a light node."""

NO_MODEL_PROFILE = ModelProfile(
    name=NO_MODEL, family="none", params_m=0.0, quant="none", path=Path("/nonexistent/no-model.gguf"),
    chat=False, default_cost_per_1k=0.0, description="light node: serves no model",
)

__all__ = ["NO_MODEL", "NO_MODEL_PROFILE", "NoModelServed", "is_light", "light_config", "load_light_backend"]


class NoModelServed(LLMError):
    """A light node was asked to run a model it does not have."""


def is_light(config: NodeConfig) -> bool:
    """Whether the configuration runs a light node (no model of its own)."""
    return config.llm.model == NO_MODEL


def light_config(config: NodeConfig) -> NodeConfig:
    """``config`` with every check that needs a local model (or the embedder) turned off."""
    trust = dataclasses.replace(config.trust, canary_rate=0.0, probe_interval_s=0.0, cross_check_rate=0.0)
    router = dataclasses.replace(config.router, learn_interval_s=0.0)
    return dataclasses.replace(config, trust=trust, router=router)


class _NoModelEngine:
    """The engine of a light node: any model call is a typed error (the gate refuses first)."""

    def generate(self, job: object) -> NoReturn:
        raise NoModelServed("this is a light node (--model none): it serves no model")

    def score(self, job: object) -> NoReturn:
        raise NoModelServed("this is a light node (--model none): it serves no model")

    def measure(self) -> NoReturn:
        raise NoModelServed("this is a light node (--model none): it serves no model")

    def close(self) -> None:
        pass


def _no_model_engine(_profile: ModelProfile, _options: EngineOptions) -> _NoModelEngine:
    return _NoModelEngine()


async def load_light_backend(config: NodeConfig) -> LlamaBackend:
    """A backend with no model behind it: zero capacity in every ad and status, nothing loaded."""
    backend = await LlamaBackend.load(NO_MODEL_PROFILE, n_threads=1, n_ctx=config.llm.n_ctx,
                                      max_concurrency=1, max_queue=1,
                                      engine_factory=_no_model_engine)
    backend.measurement = Measurement(prompt_tps=0.0, gen_tps=0.0, n_ctx=config.llm.n_ctx, ram_available_mb=0.0,
                                      model_size_mb=0.0, quant="none", n_threads=0)
    return backend
