"""The node's local LLM: GGUF models through llama.cpp behind a bounded, deadline-aware queue.

    profile = resolve_model("smollm2")          # or "gemma3-270m", or a .gguf path
    backend = await LlamaBackend.load(profile, n_threads=2)
    gen = await backend.generate(messages=[{"role": "user", "content": "Hi"}])
    scores = await backend.score("Question: ...\\nAnswer:", [" Paris", " Rome"])
    m = await backend.measure()
    await backend.aclose()
"""

from ._admission import MIN_USEFUL_TOKENS, Speed
from ._backend import PRIORITY_OWN, LlamaBackend
from ._engine_api import Engine, EngineFactory, EngineOptions
from ._errors import (
    BackendBusy,
    BackendClosed,
    DeadlineUnmeetable,
    InvalidRequest,
    LLMError,
    ModelNotFound,
    PromptTooLong,
)
from ._profiles import DEFAULT_PROFILE, PROFILES, ModelProfile, resolve_model
from ._results import ContinuationScore, FinishReason, Generation, Measurement
from ._selfcheck import llama_problem
from ._streaming import open_delta_channel, receive_pending

__all__ = [
    "DEFAULT_PROFILE",
    "MIN_USEFUL_TOKENS",
    "PROFILES",
    "BackendBusy",
    "BackendClosed",
    "ContinuationScore",
    "DeadlineUnmeetable",
    "Engine",
    "EngineFactory",
    "EngineOptions",
    "FinishReason",
    "Generation",
    "InvalidRequest",
    "LLMError",
    "LlamaBackend",
    "PRIORITY_OWN",
    "Measurement",
    "ModelNotFound",
    "ModelProfile",
    "PromptTooLong",
    "Speed",
    "open_delta_channel",
    "receive_pending",
    "llama_problem",
    "resolve_model",
]
