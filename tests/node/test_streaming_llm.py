"""Token streaming out of the LLM backend: deltas leave the worker thread as tokens are made.

Pure rules (what text is safe to send) run without a model; the rest runs on the real
SmolLM2 GGUF: deltas arrive before the generation ends, concatenate to exactly the returned
text, and the priority slots still preempt a streaming generation.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

import pytest
import trio
import trio.lowlevel
from peermind.node.llm import LlamaBackend, LLMError, resolve_model
from peermind.node.llm._prompting import QA_STOPS
from peermind.node.llm._streaming import (
    TextRelay,
    committed_text,
    open_delta_channel,
    receive_pending,
)


@pytest.mark.parametrize(("text", "stops", "expected"), [
    ("Paris is", ("\n\n",), "Paris is"),
    ("Paris is\n", ("\n\n",), "Paris is"),  # "\n" may become "\n\n": held back
    ("Paris\nQuest", ("\nQuestion:", "\n\n"), "Paris"),
    ("Paris\nQuestions are", ("\nQuestion:",), "Paris\nQuestions are"),  # "s" broke the match
    ("abc", (), "abc"),
    ("", ("\n\n",), ""),
])
def test_committed_text_holds_back_what_a_stop_sequence_could_still_cut(
        text: str, stops: tuple[str, ...], expected: str) -> None:
    assert committed_text(text, stops) == expected


async def test_relay_sends_exactly_the_stripped_final_text_in_order() -> None:
    send, recv = open_delta_channel()
    relay = TextRelay(send, strip=True)

    def worker() -> None:  # what the engine reports after each token (committed raw text)
        for committed in ["  ", "  The", "  The sky", "  The sky ", "  The sky is", "  The sky is blue.\n"]:
            assert relay.on_text(committed)

    await trio.to_thread.run_sync(worker)
    relay.finish("The sky is blue.")
    deltas = [d async for d in recv]
    assert deltas == ["The", " sky", " is", " blue."]  # trailing whitespace was held, then dropped


async def test_relay_reports_a_reader_that_left_and_refuses_a_contradicting_final_text() -> None:
    send, recv = open_delta_channel()
    relay = TextRelay(send, strip=False)
    recv.close()
    await trio.to_thread.run_sync(relay.on_text, "a")
    await trio.lowlevel.checkpoint()
    assert not await trio.to_thread.run_sync(relay.on_text, "ab")
    send2, _recv2 = open_delta_channel()
    relay2 = TextRelay(send2, strip=False)
    await trio.to_thread.run_sync(relay2.on_text, "Paris")
    with pytest.raises(LLMError):
        relay2.finish("Rome")


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaBackend]:
    loaded = trio.run(functools.partial(LlamaBackend.load, resolve_model("smollm2"), n_threads=1))
    yield loaded
    trio.run(loaded.aclose)


async def _stream(backend: LlamaBackend, **kwargs: object) -> tuple[list[tuple[float, str]], object, float]:
    send, recv = open_delta_channel()
    out: dict[str, object] = {}
    arrivals: list[tuple[float, str]] = []
    started = time.perf_counter()

    async def run() -> None:
        out["gen"] = await backend.generate(deltas=send, **kwargs)  # type: ignore[arg-type]
        out["done"] = time.perf_counter() - started

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        async for delta in recv:
            arrivals.append((time.perf_counter() - started, delta + receive_pending(recv)))
    return arrivals, out["gen"], float(out["done"])  # type: ignore[arg-type]


@pytest.mark.integration
async def test_chat_tokens_stream_before_the_answer_is_finished(backend: LlamaBackend) -> None:
    arrivals, gen, done = await _stream(
        backend, messages=[{"role": "user", "content": "Write three sentences about the sea."}], max_tokens=48)
    assert len(arrivals) >= 5
    assert "".join(d for _, d in arrivals) == gen.text  # type: ignore[attr-defined]
    assert arrivals[0][0] < done / 2  # the first piece came long before the end


@pytest.mark.integration
async def test_plain_prompt_with_qa_stops_streams_exactly_its_text(backend: LlamaBackend) -> None:
    # Gemma-style fallback prompts stop at QA_STOPS; a plain prompt with them as stops behaves alike.
    arrivals, gen, _ = await _stream(backend, prompt="Question: Name two colours.\nAnswer:",
                                     max_tokens=40, stop=list(QA_STOPS))
    assert "".join(d for _, d in arrivals) == gen.text  # type: ignore[attr-defined]
    assert all(s not in gen.text for s in QA_STOPS)  # type: ignore[attr-defined]


@pytest.mark.integration
async def test_a_streaming_peer_generation_is_still_preempted_by_own_work(backend: LlamaBackend) -> None:
    before = backend.preempted
    results: dict[str, object] = {}

    async def peer_stream() -> None:
        results["stream"] = await _stream(backend, prompt="1, 2, 3, 4, 5, 6, 7,", max_tokens=400,
                                          priority=2, preemptible=True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_stream)
        while backend.queue_depth == 0:  # noqa: ASYNC110 - waits for the worker thread to start
            await trio.sleep(0.005)
        await trio.sleep(0.2)
        own = await backend.generate(prompt="Hello", max_tokens=4)
    arrivals, gen, _ = results["stream"]  # type: ignore[misc]
    assert own.completion_tokens > 0
    assert gen.finish_reason == "length" and 0 < gen.completion_tokens < 400
    assert "".join(d for _, d in arrivals) == gen.text
    assert backend.preempted == before + 1


@pytest.mark.integration
async def test_a_reader_that_leaves_stops_the_generation_early(backend: LlamaBackend) -> None:
    send, recv = open_delta_channel()
    result: dict[str, object] = {}

    async def run() -> None:
        result["gen"] = await backend.generate(prompt="1, 2, 3, 4, 5, 6, 7,", max_tokens=400, deltas=send)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await recv.receive()
        recv.close()
    assert result["gen"].completion_tokens < 400  # type: ignore[attr-defined]
