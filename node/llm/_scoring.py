"""Log-likelihood arithmetic shared by generation and scoring (no llama.cpp here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

Tokenize = Callable[[str, bool], list[int]]


def token_logprobs(rows: npt.NDArray[np.floating], tokens: Sequence[int]) -> npt.NDArray[np.float64]:
    """log softmax(rows[i])[tokens[i]] for each i, computed in float64.

    ``rows`` has one row of raw logits per token (shape (n, vocab)).
    """
    logits = np.asarray(rows, dtype=np.float64).reshape(len(tokens), -1)
    top = logits.max(axis=1)
    log_norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    picked = logits[np.arange(len(tokens)), np.asarray(tokens, dtype=np.intp)]
    return picked - log_norm


def row_logprob(row: npt.NDArray[np.float32], token: int) -> float:
    """log softmax(row)[token] for one row of raw logits, the per-token figure of a generation.

    Computed in the row's own float32 (the exponent sum accumulates in float64) without the
    float64 copy of the whole vocabulary that ``token_logprobs`` makes: generation calls this
    once per token, and that copy cost about 2% of a one-thread answer's time. Agrees with
    ``token_logprobs`` to ~1e-6 nats, and is a function of the logits alone.
    """
    top = row.max()
    shifted = np.subtract(row, top)
    np.exp(shifted, out=shifted)
    return float(row[token] - top) - float(np.log(shifted.sum(dtype=np.float64)))


def move_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """Move the context's trailing whitespace onto the continuation (lm-eval-harness rule).

    BPE vocabularies attach a space to the word after it (" Paris"), so
    "Answer: " + "Paris" must be scored as "Answer:" + " Paris".
    """
    stripped = context.rstrip()
    return stripped, context[len(stripped) :] + continuation


def continuation_tokens(
    context_tokens: Sequence[int], context: str, continuation: str, tokenize: Tokenize
) -> list[int]:
    """Tokens of ``continuation`` as they follow ``context`` (lm-eval-harness way).

    Tokenise context+continuation together and take what follows the context's
    own tokens, so a continuation's first token is the one the model would read
    after this context. When the joint tokenisation also changes the context's
    tokens (a merge across the boundary), fall back to tokenising the
    continuation alone, so that context tokens + continuation tokens still
    spell exactly context + continuation. ``tokenize(text, add_bos)``.
    """
    whole = tokenize(context + continuation, True)
    n = len(context_tokens)
    if list(whole[:n]) == list(context_tokens) and len(whole) > n:
        return list(whole[n:])
    return tokenize(continuation, False)
