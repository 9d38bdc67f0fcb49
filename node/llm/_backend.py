"""The async face of a local model: bounded queue, deadlines, worker threads.

llama.cpp calls block and a Llama object is not thread-safe, so each call
runs in ``trio.to_thread.run_sync`` on an engine (one model instance) taken
from a pool of ``max_concurrency`` engines, under as many priority slots
(``_slots``: this node's own work first, unproven peers' generations cut short
when something more urgent waits). The daemon stays responsive, and a full queue or a hopeless
deadline is refused at once, before any work, so the node can send a typed
refusal and the asker can try another peer. Deadline rules: see _admission.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar, overload

import psutil
import trio

from . import _admission
from ._admission import Speed, SpeedTracker
from ._engine_api import (
    Engine,
    EngineFactory,
    EngineOptions,
    GenerateJob,
    RawGeneration,
    RawMeasurement,
    RawScores,
    ScoreJob,
)
from ._errors import (
    BackendBusy,
    BackendClosed,
    DeadlineUnmeetable,
    InvalidRequest,
    PromptTooLong,
)
from ._llama_engine import load_llama_engine
from ._profiles import ModelProfile, resolve_model
from ._prompting import MessageInput, validate_messages
from ._results import ContinuationScore, Generation, Measurement
from ._slots import PrioritySlots, Running
from ._streaming import TextRelay

T = TypeVar("T")
_MESSAGE_OVERHEAD_TOKENS = 4  # role markers per message in chat templates, for estimates
PRIORITY_OWN = 0
"""Queue priority of this node's own work (its user's questions); peers' tasks use higher numbers."""
PRIORITY_CLOSE = 2**31
"""aclose() takes every slot after everything already queued (which sees the flag and leaves)."""


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidRequest(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_deadline(deadline: object) -> float | None:
    if deadline is None:
        return None
    if not isinstance(deadline, int | float) or isinstance(deadline, bool) or math.isnan(deadline):
        raise InvalidRequest(
            f"deadline must be an absolute trio.current_time() value or None, got {deadline!r}"
        )
    return float(deadline)


class _LoadAttribute:
    """One name, two meanings, as the node's contract has it.

    On the class, ``LlamaBackend.load(...)`` is the async constructor; on an
    instance, ``backend.load`` is its busyness in [0, 1] (``load_fraction``).
    """

    @overload
    def __get__(
        self, instance: None, owner: type[LlamaBackend]
    ) -> Callable[..., Coroutine[Any, Any, LlamaBackend]]: ...

    @overload
    def __get__(self, instance: LlamaBackend, owner: type[LlamaBackend]) -> float: ...

    def __get__(
        self, instance: LlamaBackend | None, owner: type[LlamaBackend]
    ) -> Callable[..., Coroutine[Any, Any, LlamaBackend]] | float:
        if instance is None:
            return owner._load
        return instance.load_fraction


class LlamaBackend:
    """A local GGUF model behind a bounded queue. Build it with ``await LlamaBackend.load(...)``."""

    def __init__(
        self,
        profile: ModelProfile,
        engines: Sequence[Engine],
        *,
        n_ctx: int,
        n_threads: int,
        max_queue: int,
    ) -> None:
        if not engines:
            raise InvalidRequest("a backend needs at least one engine")
        self._profile = profile
        self._idle: list[Engine] = list(engines)
        self._max_concurrency = len(engines)
        self._slots = PrioritySlots(self._max_concurrency)
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._max_queue = _check_int("max_queue", max_queue, 1)
        self._waiting = 0
        self._running = 0
        self._closed = False
        self._speed = SpeedTracker()
        try:
            self._model_size_mb = profile.path.stat().st_size / 2**20
        except OSError:
            self._model_size_mb = 0.0
        self.measurement: Measurement | None = None
        """The last measure() result (None until measure() has run)."""

    @classmethod
    async def _load(
        cls,
        profile: ModelProfile | str,
        *,
        n_threads: int = 2,
        n_ctx: int = 2048,
        max_concurrency: int = 1,
        max_queue: int = 8,
        engine_factory: EngineFactory = load_llama_engine,
    ) -> LlamaBackend:
        """Resolve (if given a spec) and load the model off the event loop.

        One engine (model + KV cache) is loaded per concurrency slot; the
        weights are memory-mapped, so extra slots cost KV cache and compute
        buffers, and up to ``n_threads x max_concurrency`` cores.
        """
        _check_int("n_threads", n_threads, 1)
        _check_int("n_ctx", n_ctx, 64)
        _check_int("max_concurrency", max_concurrency, 1)
        _check_int("max_queue", max_queue, 1)
        if isinstance(profile, str):
            profile = await trio.to_thread.run_sync(resolve_model, profile)
        options = EngineOptions(n_threads=n_threads, n_ctx=n_ctx)
        engines: list[Engine] = []
        try:
            for _ in range(max_concurrency):
                engines.append(await trio.to_thread.run_sync(engine_factory, profile, options))
        except BaseException:
            for engine in engines:
                engine.close()
            raise
        return cls(profile, engines, n_ctx=n_ctx, n_threads=n_threads, max_queue=max_queue)

    # --- observable state ------------------------------------------------------

    @property
    def profile(self) -> ModelProfile:
        return self._profile

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def n_threads(self) -> int:
        return self._n_threads

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency

    @property
    def max_queue(self) -> int:
        """Most tasks (waiting + running) accepted at once; more raise BackendBusy."""
        return self._max_queue

    @property
    def queue_depth(self) -> int:
        """Tasks waiting for a slot plus tasks running."""
        return self._waiting + self._running

    def queue_depth_for(self, priority: int) -> int:
        """Tasks a new task of ``priority`` would wait behind: the depth an ad advertises to peers
        (at the peer priority), so a queue of unproven peers' preemptible work it would cut short
        makes the node look no busier to an honest asker than it is for one."""
        return self._slots.ahead_of(priority)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def load_fraction(self) -> float:
        """Busyness in [0, 1] for ads and routing (also readable as ``backend.load``).

        Half comes from busy slots (running / max_concurrency), half from the
        waiting room used (waiting / (max_queue - max_concurrency)); it is 1.0
        exactly when a new call would get BackendBusy.
        """
        if self.queue_depth >= self._max_queue:
            return 1.0
        slots = min(self._max_concurrency, self._max_queue)
        room = self._max_queue - slots
        busy = 0.5 * min(self._running / slots, 1.0)
        queued = 0.5 * min(self._waiting / room, 1.0) if room > 0 else 0.0
        return busy + queued

    @property
    def speed(self) -> Speed:
        """Current throughput estimates used for deadline decisions."""
        return self._speed.snapshot()

    # --- the queue -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BackendClosed(f"the {self._profile.name} backend is closed; load a new one")

    async def _submit(
        self,
        work: Callable[[Engine, float | None, Speed, threading.Event], T],
        *,
        deadline: float | None,
        prompt_tokens: int,
        gen_tokens: int,
        priority: int = PRIORITY_OWN,
        preemptible: bool = False,
    ) -> T:
        """Admit, queue for a slot by priority, run ``work`` in a worker thread.

        Deadlines: see _admission. Priority: see _slots (lower first; a waiting task may cut
        a running preemptible generation of a worse priority short at a token boundary).
        """
        self._check_open()
        ahead = self._slots.ahead_of(priority)  # less urgent preemptible work does not delay this task
        if ahead >= self._max_queue:
            raise BackendBusy(
                f"{self._profile.name} backend is full ({ahead} of {self._max_queue} "
                "tasks queued or running ahead of this one); retry later or ask another peer"
            )
        if deadline is not None:
            _admission.admit(
                time_left=deadline - trio.current_time(),
                ahead=ahead,
                max_concurrency=self._max_concurrency,
                speed=self._speed.snapshot(),
                prompt_tokens=prompt_tokens,
                gen_tokens=gen_tokens,
            )
        slot: Running | None = None
        self._waiting += 1
        try:
            with trio.move_on_at(math.inf if deadline is None else deadline):
                slot = await self._slots.acquire(priority, preemptible=preemptible)
        finally:
            self._waiting -= 1
        if slot is None:
            raise DeadlineUnmeetable(
                "the deadline passed while the task waited in the queue; allow more time "
                "or ask another peer"
            )
        try:
            self._check_open()
            engine = self._idle.pop()
            self._running += 1
            stop_at = (
                None if deadline is None
                else time.perf_counter() + (deadline - trio.current_time())
            )
            started = time.perf_counter()
            try:
                result = await trio.to_thread.run_sync(
                    work, engine, stop_at, self._speed.snapshot(), slot.yield_flag
                )
            finally:
                self._running -= 1
                self._idle.append(engine)
            self._speed.observe_task(time.perf_counter() - started)
            return result
        finally:
            self._slots.release(slot)

    @property
    def preempted(self) -> int:
        """Generations cut short so far because more urgent work was waiting."""
        return self._slots.preempted

    # --- public calls ----------------------------------------------------------

    async def generate(
        self,
        messages: Sequence[MessageInput] | None = None,
        prompt: str | None = None,
        *,
        max_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        priority: int = PRIORITY_OWN,
        preemptible: bool = False,
        deltas: trio.MemorySendChannel[str] | None = None,
    ) -> Generation:
        """Complete a chat (``messages``) or a plain ``prompt``.

        ``messages`` use the model's chat template, or the question/answer
        fallback for models without one (see _prompting); their text is
        stripped of surrounding whitespace. ``prompt`` is plain completion and
        returned verbatim. ``temperature`` 0 is greedy; above 0 samples with
        top-k 40 / top-p 0.95 / min-p 0.05 and ``seed`` (random if None).
        ``deadline`` is an absolute ``trio.current_time()``; max_tokens may be
        clipped to meet it (finish_reason "length"). ``priority`` orders the queue (lower
        first, this node's own work is PRIORITY_OWN); a ``preemptible`` generation stops
        early (finish_reason "length") when more urgent work is waiting.

        ``deltas`` streams the answer: pieces of the returned text are sent as the tokens are
        generated (they concatenate to exactly ``Generation.text``), and the channel is closed
        when the call returns or fails. If its reader closes, the generation stops early.
        """
        with deltas if deltas is not None else contextlib.nullcontext():
            return await self._generate(messages, prompt, max_tokens=max_tokens, temperature=temperature,
                                        stop=stop, deadline=deadline, seed=seed, priority=priority,
                                        preemptible=preemptible, deltas=deltas)

    async def _generate(
        self,
        messages: Sequence[MessageInput] | None,
        prompt: str | None,
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        deadline: float | None,
        seed: int | None,
        priority: int,
        preemptible: bool,
        deltas: trio.MemorySendChannel[str] | None,
    ) -> Generation:
        started = time.perf_counter()
        if (messages is None) == (prompt is None):
            raise InvalidRequest("pass exactly one of messages= or prompt=")
        checked = validate_messages(messages) if messages is not None else None
        if prompt is not None and not isinstance(prompt, str):
            raise InvalidRequest(f"prompt must be a string, got {type(prompt).__name__}")
        _check_int("max_tokens", max_tokens, 1)
        if max_tokens >= self._n_ctx:
            raise PromptTooLong(
                f"max_tokens={max_tokens} leaves no room for a prompt in the {self._n_ctx}-token "
                "context; lower max_tokens or load the model with a larger n_ctx"
            )
        if (not isinstance(temperature, int | float) or isinstance(temperature, bool)
                or not math.isfinite(temperature) or temperature < 0):
            raise InvalidRequest(f"temperature must be a finite number >= 0, got {temperature!r}")
        if stop is not None and (
            isinstance(stop, str) or not all(isinstance(s, str) and s for s in stop)
        ):
            raise InvalidRequest("stop must be a list of non-empty strings")
        if seed is not None:
            _check_int("seed", seed, 0)
        deadline = _check_deadline(deadline)
        if checked is not None:
            estimate = sum(
                _admission.estimate_tokens(m.content) + _MESSAGE_OVERHEAD_TOKENS for m in checked
            )
        else:
            estimate = _admission.estimate_tokens(prompt or "")

        relay = TextRelay(deltas, strip=checked is not None) if deltas is not None else None

        def work(engine: Engine, stop_at: float | None, speed: Speed, yield_flag: threading.Event) -> RawGeneration:
            job = GenerateJob(
                messages=checked, prompt=prompt, max_tokens=max_tokens,
                temperature=float(temperature), stop=tuple(stop or ()), seed=seed,
                stop_at=stop_at, speed=speed, yield_flag=yield_flag,
                on_text=relay.on_text if relay is not None else None,
            )
            return engine.generate(job)

        raw = await self._submit(
            work, deadline=deadline, prompt_tokens=estimate,
            gen_tokens=_admission.min_useful_tokens(max_tokens),
            priority=priority, preemptible=preemptible,
        )
        self._speed.observe_prompt(raw.prompt_evaluated, raw.prompt_s)
        self._speed.observe_generation(raw.completion_tokens, raw.gen_s)
        text = raw.text.strip() if checked is not None else raw.text
        if relay is not None:
            relay.finish(text)
        return Generation(
            text=text,
            prompt_tokens=raw.prompt_tokens,
            completion_tokens=raw.completion_tokens,
            mean_logprob=min(raw.mean_logprob, 0.0),
            latency_s=time.perf_counter() - started,
            model=self._profile.name,
            finish_reason=raw.finish_reason,
        )

    async def score(
        self,
        context: str,
        continuations: list[str],
        *,
        deadline: float | None = None,
        priority: int = PRIORITY_OWN,
    ) -> list[ContinuationScore]:
        """Log-likelihood of each continuation after ``context`` (multiple-choice scoring).

        The context is evaluated once and its KV state reused for every
        continuation; compare choices with ``ContinuationScore.normalized``.
        """
        if not isinstance(context, str):
            raise InvalidRequest(f"context must be a string, got {type(context).__name__}")
        if (isinstance(continuations, str) or not isinstance(continuations, Sequence)
                or not continuations or not all(isinstance(c, str) for c in continuations)):
            raise InvalidRequest("continuations must be a non-empty list of strings")
        deadline = _check_deadline(deadline)
        job_conts = tuple(continuations)
        estimate = _admission.estimate_tokens(context) + sum(
            _admission.estimate_tokens(c) for c in job_conts
        )

        def work(engine: Engine, stop_at: float | None, speed: Speed, _yield: threading.Event) -> RawScores:
            return engine.score(ScoreJob(context, job_conts, stop_at, speed))

        # Scoring is one short evaluation: queued by priority, never cut short.
        raw = await self._submit(work, deadline=deadline, prompt_tokens=estimate, gen_tokens=0,
                                 priority=priority)
        self._speed.observe_prompt(raw.evaluated_tokens, raw.seconds)
        return list(raw.scores)

    async def measure(self) -> Measurement:
        """Self-benchmark (prompt evaluation + 32 generated tokens) through the normal queue.

        Refused with BackendBusy like any task when the queue is full. The
        result is kept in ``self.measurement`` and seeds the deadline estimates.
        """

        def work(engine: Engine, stop_at: float | None, speed: Speed, _yield: threading.Event) -> RawMeasurement:
            del stop_at, speed
            return engine.measure()

        raw = await self._submit(work, deadline=None, prompt_tokens=0, gen_tokens=0)
        self._speed.reset_to(raw.prompt_tps, raw.gen_tps)
        self.measurement = Measurement(
            prompt_tps=round(raw.prompt_tps, 1),
            gen_tps=round(raw.gen_tps, 1),
            n_ctx=self._n_ctx,
            ram_available_mb=round(psutil.virtual_memory().available / 2**20, 1),
            model_size_mb=round(self._model_size_mb, 1),
            quant=self._profile.quant,
            n_threads=self._n_threads,
        )
        return self.measurement

    async def refresh_speed(self, *, stale_after_s: float) -> bool:
        """Re-measure when idle and no task has shown the speed for ``stale_after_s``; True if it did.

        The advertised speed follows served tasks (an EWMA), so a node that serves nothing
        keeps its start-up figure forever: measured on a loaded machine, it stays 2-5x too
        slow, routers send every question to a peer that looked faster, and the figure is
        never corrected (``peermind bench load``: at 2 peers one served all 121 answers).
        A short self-benchmark while idle gives routers today's speed instead.
        """
        age = self._speed.age_s()
        if self._closed or self.queue_depth or (age is not None and age < stale_after_s):
            return False
        await self.measure()
        return True

    async def aclose(self) -> None:
        """Refuse new calls, let running ones finish, then free the models."""
        if self._closed:
            return
        self._closed = True
        # Queued callers ahead of us get their slot, see the flag and leave.
        for _ in range(self._max_concurrency):
            await self._slots.acquire(PRIORITY_CLOSE)
        engines, self._idle = self._idle, []

        def close_all() -> None:
            for engine in engines:
                engine.close()

        await trio.to_thread.run_sync(close_all)

    load = _LoadAttribute()
    """``await LlamaBackend.load(profile, ...)`` loads; ``backend.load`` is the busyness fraction."""

    async def __aenter__(self) -> LlamaBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

