"""LlamaBackend on the real Gemma-3-270M base GGUF (no chat template, sliding-window attention)."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
import trio
from llama_cpp import Llama
from peermind.node.llm import LlamaBackend, ModelProfile, resolve_model

pytestmark = pytest.mark.integration

QUESTION = "Question: What is the capital of France?\nAnswer:"
CHOICES = [" Paris", " Banana", " The capital of France is Paris."]


@pytest.fixture(scope="module")
def profile() -> ModelProfile:
    return resolve_model("gemma3-270m")


@pytest.fixture(scope="module")
def backend(profile: ModelProfile) -> Iterator[LlamaBackend]:
    loaded = trio.run(functools.partial(LlamaBackend.load, profile, n_threads=2))
    yield loaded
    trio.run(loaded.aclose)


def test_profile_comes_from_the_assembled_package_file(profile: ModelProfile) -> None:
    assert profile.name == "gemma3-270m"
    assert (profile.family, profile.quant, profile.chat) == ("gemma3", "Q4_K_M", False)
    assert profile.params_m == pytest.approx(268.1, abs=0.1)
    assert profile.path.name == "gemma-3-270m-q4_k_m.gguf" and profile.path.is_file()


async def test_plain_completion(backend: LlamaBackend) -> None:
    gen = await backend.generate(prompt=QUESTION, max_tokens=6)
    assert gen.text.strip() and gen.completion_tokens > 0
    assert gen.mean_logprob < 0 and gen.model == "gemma3-270m"


async def test_chat_messages_use_the_question_answer_fallback(backend: LlamaBackend) -> None:
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    gen = await backend.generate(messages, max_tokens=24)
    assert gen.text  # chat completion through llama.cpp would return "" for this model
    assert "Question:" not in gen.text and "\n\n" not in gen.text  # stopped at the next turn
    plain = await backend.generate(
        prompt="Answer briefly.\n\n" + QUESTION, max_tokens=24, stop=["\nQuestion:", "\n\n"]
    )
    assert gen.text == plain.text.strip()
    assert gen.prompt_tokens == plain.prompt_tokens


async def test_score_reuses_the_context_exactly(backend: LlamaBackend, profile: ModelProfile) -> None:
    """Gemma-3 logits move ~0.03 nats with how a sequence is split into decode
    batches, so the exact reference evaluates the context and then the
    continuation, as score() does; a single-batch evaluation agrees loosely."""
    scores = await backend.score(QUESTION, CHOICES)
    llm = Llama(str(profile.path), n_ctx=256, n_threads=2, logits_all=True, swa_full=True,
                verbose=False)
    try:
        ctx = llm.tokenize(QUESTION.encode(), add_bos=True, special=True)
        for choice, score in zip(CHOICES, scores, strict=True):
            cont = llm.tokenize((QUESTION + choice).encode(), add_bos=True, special=True)[len(ctx):]
            for split in ([ctx, cont[:-1]], [ctx + cont[:-1]]):
                llm.reset()
                for part in filter(None, split):
                    llm.eval(part)
                logprobs = Llama.logits_to_logprobs(llm.scores[: llm.n_tokens])
                expected = sum(float(logprobs[len(ctx) - 1 + i, t]) for i, t in enumerate(cont))
                tolerance = 1e-3 if len(split) == 2 else 0.1
                assert score.logprob == pytest.approx(expected, abs=tolerance)
            assert score.n_tokens == len(cont)
    finally:
        llm.close()
    assert scores[0].normalized > scores[1].normalized
