"""One llama.cpp model instance doing generation, scoring and self-benchmarks.

Why not create_completion/create_chat_completion: in llama-cpp-python 0.3.36
they return log-probabilities only with ``logits_all=True``, which projects
every prompt token onto the whole vocabulary (measured: Gemma-3-270M prompt
evaluation 1016 -> 178 tokens/s, and an n_ctx x n_vocab float matrix, 2 GB for
Gemma at n_ctx 2048). Instead the context keeps logits for the last token only;
generation reads that row after each sampled token, and scoring asks
llama_decode for per-token logits of the continuation tokens alone.

This module uses a few llama-cpp-python internals (``_ctx``, ``_batch``,
``input_ids``, ``n_tokens``, ``_requires_eval``), checked against 0.3.36
(pinned in pyproject). Not thread-safe: the backend gives each instance to one
worker thread at a time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import numpy.typing as npt
from llama_cpp import Llama, llama_vocab_is_control, llama_vocab_is_eog

from . import _admission
from ._engine_api import (
    EngineOptions,
    GenerateJob,
    RawGeneration,
    RawMeasurement,
    RawScores,
    ScoreJob,
)
from ._errors import InvalidRequest, LLMError, ModelNotFound, PromptTooLong
from ._prefix import block_starts, blocks, kept_prefix
from ._profiles import ModelProfile
from ._prompting import QA_STOPS, ChatTemplate, qa_prompt, validate_messages
from ._results import ContinuationScore, FinishReason
from ._scoring import continuation_tokens, move_trailing_space, row_logprob, token_logprobs
from ._streaming import committed_text

MEASURE_GEN_TOKENS = 32
_MEASURE_PROMPT = (
    "The river rises in the hills north of the town and runs south through farmland, "
    "past the old mill, under three stone bridges and into the estuary. In spring the "
    "water is high and brown with silt; in late summer it is clear enough to see the "
    "gravel bed. Anglers come for trout in May, and in autumn the herons stand in the "
    "shallows below the weir. The town keeps a record of floods carved into the wall "
    "of the church, the highest mark from a winter two hundred years ago."
)
_TOP_K, _TOP_P, _MIN_P = 40, 0.95, 0.05  # llama-cpp-python's defaults for temperature > 0


class LlamaEngine:
    """A loaded GGUF model plus its context (KV cache), used by one thread at a time."""

    def __init__(self, profile: ModelProfile, options: EngineOptions) -> None:
        try:
            self._llm = Llama(
                model_path=str(profile.path),
                n_ctx=options.n_ctx,
                n_batch=min(512, options.n_ctx),
                n_threads=options.n_threads,
                n_threads_batch=options.n_threads,
                logits_all=False,
                # Sliding-window models (Gemma-3) keep the whole window so the KV
                # cache can be rolled back between continuations; ~36 MB for Gemma-3-270M.
                swa_full=True,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelNotFound(f"llama.cpp could not load {profile.path}: {exc}") from exc
        self._n_ctx = options.n_ctx
        self._prompt: list[int] = []
        """The last generation prompt, if its blocks are still in the KV cache (see _prefix)."""
        self._prompt_starts: list[int] = []
        """Where that prompt's evaluation blocks began."""
        self.reuse_prefix = True
        """Keep whole blocks of the previous prompt (same answers either way; off for tests)."""
        self._n_vocab = self._llm.n_vocab()
        self._vocab = self._llm._model.vocab
        template = self._llm.metadata.get("tokenizer.chat_template", "")
        self._template = (
            ChatTemplate(template, bos_token=self._token_text(self._llm.token_bos()),
                         eos_token=self._token_text(self._llm.token_eos()))
            if template.strip()
            else None
        )
        self._tail_controls, self._turn_header = self._final_turn()

    def _final_turn(self) -> tuple[int, list[int]]:
        """The template's last turn (the final message and the generation prompt), for _prefix:
        its control-token count and the fixed header before the message's text.

        Rendered for two one-message chats: the turn begins at the last control token inside
        their common prefix, the header runs from there to where they differ, and the count
        runs from there to the end. (1, []) (each control token starts a block) without a
        template or with one whose turns carry no control token.
        """
        if self._template is None:
            return 1, []
        one, other = (
            self._tokenize(self._template.render(validate_messages([{"role": "user", "content": text}])), False)
            for text in ("a", "b")
        )
        common = next((i for i, (x, y) in enumerate(zip(one, other, strict=False)) if x != y), len(one))
        controls = [i for i in range(1, len(one)) if self._is_control(one[i])]
        turn = [i for i in controls if i < common]
        if not turn:
            return 1, []
        return max(sum(1 for i in controls if i >= turn[-1]), 1), one[turn[-1] : common]

    def _token_text(self, token: int) -> str:
        return self._llm._model.token_get_text(token) if token != -1 else ""

    # --- tokens and KV cache -------------------------------------------------

    def _tokenize(self, text: str, add_bos: bool) -> list[int]:
        """Tokens of ``text``; BOS only if asked and the model's vocabulary wants one."""
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _sequence(self, text: str, add_bos: bool) -> list[int]:
        """Tokens to evaluate, never empty: an empty text becomes the BOS token."""
        tokens = self._tokenize(text, add_bos)
        if not tokens:
            bos = self._llm.token_bos()
            if bos == -1:
                raise InvalidRequest("the text is empty and the model has no BOS token to start from")
            tokens = [bos]
        return tokens

    def _prefill(self, tokens: Sequence[int]) -> int:
        """Evaluate ``tokens`` from an empty KV cache in one batch; returns the number evaluated.

        Used by scoring and the self-benchmark, whose results must not depend on what ran
        before (see _prefix); generation uses ``_prefill_blocks``.
        """
        self._prompt = []
        self._llm.reset()
        self._decode_checked(lambda: self._llm.eval(list(tokens)))
        return len(tokens)

    def _prefill_blocks(self, tokens: Sequence[int]) -> int:
        """Evaluate a prompt block by block, keeping whole blocks the previous prompt computed.

        Bitwise the same KV state and logits as from an empty cache (see _prefix); returns
        the number of tokens evaluated (the prompt minus the kept prefix).
        """
        llm = self._llm
        starts = block_starts(tokens, self._is_control, self._tail_controls, self._turn_header)
        keep = kept_prefix(self._prompt, self._prompt_starts, tokens, starts) if self.reuse_prefix else 0
        if keep and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            llm.n_tokens = keep
        else:
            keep = 0
            llm.reset()
        self._prompt = []  # until the blocks below are all in
        for start, end in blocks(starts, keep, len(tokens)):
            self._decode_checked(partial(llm.eval, list(tokens[start:end])))
        self._prompt, self._prompt_starts = list(tokens), starts
        return len(tokens) - keep

    def _is_control(self, token: int) -> bool:
        return bool(llama_vocab_is_control(self._vocab, token))

    def _decode_checked(self, action: Callable[[], object]) -> None:
        try:
            action()
        except RuntimeError as exc:  # llama_decode failures surface as RuntimeError
            self._prompt = []
            self._llm.reset()
            raise LLMError(f"llama.cpp decode failed: {exc}; the request was dropped") from exc

    def _last_logits(self) -> npt.NDArray[np.float32]:
        pointer = self._llm._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))

    def _logits_for(self, tokens: Sequence[int], n_past: int) -> npt.NDArray[np.float32]:
        """Decode ``tokens`` at positions n_past.. and return one logits row per token."""
        llm = self._llm
        rows: list[npt.NDArray[np.float32]] = []
        for start in range(0, len(tokens), llm.n_batch):
            chunk = list(tokens[start : start + llm.n_batch])
            llm._batch.set_batch(batch=chunk, n_past=n_past + start, logits_all=True)
            self._decode_checked(lambda: llm._ctx.decode(llm._batch))
            out = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(chunk), self._n_vocab))
            rows.append(out.copy())
        return np.concatenate(rows) if rows else np.empty((0, self._n_vocab), np.float32)

    # --- generation ----------------------------------------------------------

    def _prepare(self, job: GenerateJob) -> tuple[list[int], tuple[str, ...]]:
        """Prompt tokens and stop sequences for a job (see _prompting for the formats)."""
        if job.prompt is not None:
            return self._sequence(job.prompt, add_bos=True), job.stop
        assert job.messages is not None
        if self._template is not None:
            # The rendered template carries its own BOS if it wants one (as in llama-cpp-python).
            return self._sequence(self._template.render(job.messages), add_bos=False), job.stop
        return self._sequence(qa_prompt(job.messages), add_bos=True), job.stop + QA_STOPS

    def generate(self, job: GenerateJob) -> RawGeneration:
        tokens, stops = self._prepare(job)
        if len(tokens) + job.max_tokens > self._n_ctx:
            raise PromptTooLong(
                f"prompt is {len(tokens)} tokens and max_tokens is {job.max_tokens}, but the "
                f"context holds {self._n_ctx}; shorten the prompt to at most "
                f"{max(self._n_ctx - job.max_tokens, 0)} tokens or lower max_tokens"
            )
        max_tokens = job.max_tokens
        if job.stop_at is not None:
            max_tokens = _admission.clip_max_tokens(
                time_left=job.stop_at - time.perf_counter(),
                prompt_tokens=len(tokens),
                max_tokens=max_tokens,
                speed=job.speed,
            )
        started = time.perf_counter()
        evaluated = self._prefill_blocks(tokens)
        prompt_s = time.perf_counter() - started
        if job.seed is not None or job.temperature > 0:
            self._llm.set_seed(job.seed if job.seed is not None else random.getrandbits(31))
        text, produced, logprobs, finish, gen_s = self._sample(tokens, job, max_tokens, stops)
        return RawGeneration(
            text=text,
            prompt_tokens=len(tokens),
            completion_tokens=produced,
            mean_logprob=float(np.mean(logprobs)) if logprobs else 0.0,
            finish_reason=finish,
            prompt_evaluated=evaluated,
            prompt_s=prompt_s,
            gen_s=gen_s,
        )

    def _sample(
        self, tokens: list[int], job: GenerateJob, max_tokens: int, stops: tuple[str, ...]
    ) -> tuple[str, int, list[float], FinishReason, float]:
        """Sample after a prefilled prompt; stop on EOG, a stop sequence, length or deadline."""
        llm = self._llm
        logprobs: list[float] = []
        raw = bytearray()
        text = ""
        finish: FinishReason = "length"
        started = time.perf_counter()
        # The prompt is cached with fresh logits, so generate() samples at once.
        stream = llm.generate(
            tokens, temp=job.temperature, top_k=_TOP_K, top_p=_TOP_P, min_p=_MIN_P,
            repeat_penalty=1.0, reset=True,
        )
        try:
            for token in stream:
                if llama_vocab_is_eog(self._vocab, token):
                    finish = "stop"
                    break
                logprobs.append(row_logprob(self._last_logits(), token))
                raw += llm.detokenize([token])
                text = raw.decode("utf-8", errors="ignore")
                cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
                if cut >= 0:
                    text, finish = text[:cut], "stop"
                    break
                if job.on_text is not None and not job.on_text(committed_text(text, stops)):
                    break  # the reader of the stream left
                if len(logprobs) >= max_tokens:
                    break
                if job.yield_flag is not None and job.yield_flag.is_set():
                    break  # preempted: more urgent work waits for this engine
                if job.stop_at is not None and _admission.next_token_would_miss(
                    now=time.perf_counter(), stop_at=job.stop_at,
                    tokens_done=len(logprobs), gen_seconds=time.perf_counter() - started,
                ):
                    break
        except RuntimeError as exc:
            self._prompt = []
            llm.reset()
            raise LLMError(f"llama.cpp generation failed: {exc}") from exc
        finally:
            stream.close()
        return text, len(logprobs), logprobs, finish, time.perf_counter() - started

    # --- scoring -------------------------------------------------------------

    def score(self, job: ScoreJob) -> RawScores:
        """Sum log-probs of each continuation after the context; the context is evaluated once.

        The context's trailing whitespace moves onto the continuations, and
        continuations are tokenised jointly with the context (see _scoring).
        The last continuation token is never decoded: only the logits before it
        are needed, so one-token answers cost no decode at all.
        """
        context, suffix = move_trailing_space(job.context, "")
        context_tokens = self._sequence(context, add_bos=True)
        conts = [
            continuation_tokens(context_tokens, context, suffix + c, self._tokenize)
            if suffix + c else []
            for c in job.continuations
        ]
        longest = max((len(c) for c in conts), default=0)
        if len(context_tokens) + longest > self._n_ctx:
            raise PromptTooLong(
                f"context ({len(context_tokens)} tokens) plus the longest continuation "
                f"({longest} tokens) exceed the {self._n_ctx}-token context; shorten the context"
            )
        if job.stop_at is not None:
            _admission.check_score_fits(
                time_left=job.stop_at - time.perf_counter(),
                tokens=len(context_tokens) + sum(max(len(c) - 1, 0) for c in conts),
                speed=job.speed,
            )
        started = time.perf_counter()
        evaluated = self._prefill(context_tokens)
        last = self._last_logits().copy()
        n_past = len(context_tokens)
        scores: list[ContinuationScore] = []
        try:
            for cont in conts:
                if not cont:
                    scores.append(ContinuationScore(0.0, 0))
                    continue
                rows = np.concatenate([last[None, :], self._logits_for(cont[:-1], n_past)])
                self._llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
                evaluated += len(cont) - 1
                scores.append(ContinuationScore(float(token_logprobs(rows, cont).sum()), len(cont)))
        finally:
            # Leave a consistent state: the KV cache holds exactly the context,
            # and the live logits (last continuation's) are marked stale.
            self._llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
            self._llm.n_tokens = n_past
            self._llm._requires_eval = True
        return RawScores(tuple(scores), evaluated, time.perf_counter() - started)

    # --- self-benchmark ------------------------------------------------------

    def measure(self) -> RawMeasurement:
        """Prompt tokens/s on a fixed paragraph, then greedy generation tokens/s.

        Generation speed is 1 / the median per-token time over 32 tokens: on a
        shared host a single scheduler stall (ggml's threads spin at barriers
        and suffer badly from oversubscription) would otherwise dominate the
        advertised figure.
        """
        llm = self._llm
        tokens = self._sequence(_MEASURE_PROMPT, add_bos=True)
        started = time.perf_counter()
        self._prefill(tokens)
        prompt_tps = len(tokens) / max(time.perf_counter() - started, 1e-9)
        stream = llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True)
        stamps: list[float] = []
        try:
            for _ in stream:  # end tokens are ignored: only speed counts
                stamps.append(time.perf_counter())
                if len(stamps) > MEASURE_GEN_TOKENS:
                    break
        except RuntimeError as exc:
            llm.reset()
            raise LLMError(f"llama.cpp benchmark failed: {exc}") from exc
        finally:
            stream.close()
        per_token = float(np.median(np.diff(stamps)))
        return RawMeasurement(prompt_tps=prompt_tps, gen_tps=1.0 / max(per_token, 1e-9))

    def close(self) -> None:
        self._llm.close()


def load_llama_engine(profile: ModelProfile, options: EngineOptions) -> LlamaEngine:
    """The default EngineFactory."""
    return LlamaEngine(profile, options)
