"""LlamaBackend on the real SmolLM2-135M-Instruct GGUF, checked against llama-cpp-python itself.

The reference is a second, independent Llama with ``logits_all=True`` driven
through llama-cpp-python's own public paths (create_chat_completion,
create_completion(logprobs=1), eval + scores).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
import trio
import trio.testing
from llama_cpp import Llama
from peermind.node.llm import (
    BackendBusy,
    DeadlineUnmeetable,
    LlamaBackend,
    ModelProfile,
    PromptTooLong,
    resolve_model,
)

pytestmark = pytest.mark.integration

QUESTION = "Question: What is the capital of France?\nAnswer:"
CHOICES = [" Paris", " Banana", " London", " The capital of France is Paris."]


@pytest.fixture(scope="module")
def profile() -> ModelProfile:
    return resolve_model("smollm2")


@pytest.fixture(scope="module")
def backend(profile: ModelProfile) -> Iterator[LlamaBackend]:
    loaded = trio.run(functools.partial(LlamaBackend.load, profile, n_threads=2))
    yield loaded
    trio.run(loaded.aclose)


@pytest.fixture(scope="module")
def reference(profile: ModelProfile) -> Iterator[Llama]:
    llm = Llama(str(profile.path), n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    yield llm
    llm.close()


def naive_score(llm: Llama, context: str, continuation: str) -> tuple[float, int]:
    """Full evaluation of context+continuation in one pass, summing continuation log-probs."""
    ctx = llm.tokenize(context.encode(), add_bos=True, special=True)
    whole = llm.tokenize((context + continuation).encode(), add_bos=True, special=True)
    cont = whole[len(ctx):]
    llm.reset()
    llm.eval(whole)
    logprobs = Llama.logits_to_logprobs(llm.scores[: llm.n_tokens])
    return sum(float(logprobs[len(ctx) - 1 + i, t]) for i, t in enumerate(cont)), len(cont)


async def test_chat_uses_the_model_template_like_create_chat_completion(
    backend: LlamaBackend, reference: Llama
) -> None:
    messages = [{"role": "user", "content": "Name three colours."}]
    gen = await backend.generate(messages, max_tokens=24)
    ref = reference.create_chat_completion(messages=messages, max_tokens=24, temperature=0.0)
    assert gen.text and gen.text == ref["choices"][0]["message"]["content"].strip()
    assert gen.prompt_tokens == ref["usage"]["prompt_tokens"]
    assert 0 < gen.completion_tokens <= 24
    assert gen.mean_logprob < 0
    assert gen.model == "smollm2" and gen.latency_s > 0
    assert gen.finish_reason in ("stop", "length")


async def test_mean_logprob_matches_llama_cpp_completion_logprobs(
    backend: LlamaBackend, reference: Llama
) -> None:
    prompt = "The three primary colours are"
    gen = await backend.generate(prompt=prompt, max_tokens=12)
    ref = reference.create_completion(prompt, max_tokens=12, temperature=0.0, logprobs=1)
    ref_logprobs = ref["choices"][0]["logprobs"]["token_logprobs"]
    assert gen.text == ref["choices"][0]["text"]
    assert gen.completion_tokens == len(ref_logprobs) == 12
    assert gen.finish_reason == "length"
    assert gen.mean_logprob == pytest.approx(sum(ref_logprobs) / len(ref_logprobs), abs=1e-3)


async def test_score_matches_a_naive_full_evaluation(
    backend: LlamaBackend, reference: Llama
) -> None:
    scores = await backend.score(QUESTION, CHOICES)
    for choice, score in zip(CHOICES, scores, strict=True):
        expected, n_tokens = naive_score(reference, QUESTION, choice)
        assert score.n_tokens == n_tokens
        assert score.logprob == pytest.approx(expected, abs=1e-3)
    paris, banana = scores[0], scores[1]
    assert paris.logprob > banana.logprob and paris.normalized > banana.normalized
    assert scores[3].n_tokens > 1  # the multi-token path was exercised


async def test_score_boundary_rules(backend: LlamaBackend) -> None:
    spaced = await backend.score(QUESTION + " ", ["Paris", ""])
    joined = await backend.score(QUESTION, [" Paris"])
    assert spaced[0] == joined[0]  # trailing context space moves onto the continuation
    assert spaced[1].n_tokens == 1 and spaced[1].logprob < 0  # the moved space alone
    empty = await backend.score(QUESTION, [""])
    assert (empty[0].logprob, empty[0].n_tokens) == (0.0, 0)
    # SmolLM2 adds no BOS; an empty context starts from the BOS token instead.
    (opening,) = await backend.score("", ["Hello"])
    assert opening.n_tokens == 1 and opening.logprob < 0


async def test_results_do_not_depend_on_earlier_calls(backend: LlamaBackend) -> None:
    first = await backend.generate(prompt=QUESTION + " Paris.\n" + QUESTION, max_tokens=8)
    await backend.score(QUESTION, CHOICES)
    again = await backend.generate(prompt=QUESTION + " Paris.\n" + QUESTION, max_tokens=8)
    assert (again.text, again.mean_logprob) == (first.text, first.mean_logprob)
    assert await backend.score(QUESTION, CHOICES[:2]) == (await backend.score(QUESTION, CHOICES))[:2]


async def test_seeded_sampling_is_reproducible(backend: LlamaBackend) -> None:
    prompt = "Once upon a time"
    a = await backend.generate(prompt=prompt, max_tokens=12, temperature=0.9, seed=7)
    b = await backend.generate(prompt=prompt, max_tokens=12, temperature=0.9, seed=7)
    assert a.text == b.text and a.text


async def test_measure_reports_real_figures(backend: LlamaBackend) -> None:
    m = await backend.measure()
    assert m.prompt_tps > 0 and m.gen_tps > 0
    assert (m.quant, m.n_ctx, m.n_threads) == ("Q4_1", 2048, 2)
    assert m.model_size_mb == pytest.approx(backend.profile.path.stat().st_size / 2**20, abs=0.1)
    assert backend.measurement == m
    print(f"\nsmollm2 measure: {m}")
    # Idle and measured just now: fresh. With nothing served for longer than asked: re-measured.
    assert await backend.refresh_speed(stale_after_s=60) is False
    assert await backend.refresh_speed(stale_after_s=0) is True
    assert backend.measurement is not m and backend.measurement.gen_tps > 0


async def test_deadline_paths_on_the_real_model(backend: LlamaBackend) -> None:
    with pytest.raises(DeadlineUnmeetable):
        await backend.generate(prompt=QUESTION, deadline=trio.current_time() - 1)
    roomy = await backend.generate(prompt=QUESTION, max_tokens=8, deadline=trio.current_time() + 60)
    assert roomy.completion_tokens <= 8
    scores = await backend.score(QUESTION, CHOICES[:2], deadline=trio.current_time() + 60)
    assert scores[0].logprob > scores[1].logprob


async def test_prompt_too_long_is_refused(backend: LlamaBackend) -> None:
    with pytest.raises(PromptTooLong, match="2048"):
        await backend.generate(prompt="word " * 2100, max_tokens=16)
    with pytest.raises(PromptTooLong):
        await backend.score("word " * 2100, [" a"])
    assert (await backend.generate(prompt=QUESTION, max_tokens=4)).prompt_tokens > 0


async def test_busy_when_the_queue_is_full(profile: ModelProfile) -> None:
    small = await LlamaBackend.load(profile, max_queue=1)
    try:
        outcome: list[str] = []

        async def long_call() -> None:
            outcome.append((await small.generate(prompt="Once upon a time", max_tokens=48)).text)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(long_call)
            await trio.testing.wait_all_tasks_blocked()
            assert small.queue_depth == 1 and small.load == 1.0
            with pytest.raises(BackendBusy):
                await small.generate(prompt="Hi", max_tokens=4)
            with pytest.raises(BackendBusy):
                await small.score(QUESTION, CHOICES)
        assert outcome and outcome[0]
        assert small.queue_depth == 0
    finally:
        await small.aclose()


async def test_two_slots_run_two_model_instances(profile: ModelProfile) -> None:
    pair = await LlamaBackend.load(profile, max_concurrency=2, max_queue=4)
    try:
        prompts = ["The sky is", "Water boils at"]
        results: dict[str, str] = {}

        async def one(prompt: str) -> None:
            results[prompt] = (await pair.generate(prompt=prompt, max_tokens=8)).text

        async with trio.open_nursery() as nursery:
            for prompt in prompts:
                nursery.start_soon(one, prompt)
            await trio.testing.wait_all_tasks_blocked()
            assert pair.queue_depth == 2 and pair.load == pytest.approx(0.5)
        for prompt in prompts:  # same answers as one at a time
            assert results[prompt] == (await pair.generate(prompt=prompt, max_tokens=8)).text
    finally:
        await pair.aclose()


async def test_own_work_cuts_a_preemptible_peer_generation_short(backend: LlamaBackend) -> None:
    """A peer's long greedy generation yields at a token boundary when this node's own question waits."""
    results: dict[str, object] = {}
    before = backend.preempted

    async def long_generation() -> None:
        results["gen"] = await backend.generate(prompt="1, 2, 3, 4, 5, 6, 7,", max_tokens=400,
                                                priority=2, preemptible=True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(long_generation)
        while backend.queue_depth == 0:  # noqa: ASYNC110 - waits for the worker thread to start
            await trio.sleep(0.005)
        await trio.sleep(0.2)  # a few tokens in
        scores = await backend.score(QUESTION, CHOICES)
    gen = results["gen"]
    assert len(scores) == len(CHOICES)
    assert gen.finish_reason == "length" and 0 < gen.completion_tokens < 400
    assert backend.preempted == before + 1
