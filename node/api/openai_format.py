"""OpenAI response and error shapes, built from what really happened (pure, no I/O).

``finish_reason`` and ``usage`` come from the answering peer's own ``TaskResult`` (via
``Answer``): "length" when generation stopped at max_tokens (or a deadline clipped it),
"stop" at an end token or stop sequence. Only a peer that sent no reason (an older
version) is judged by its token count. Request parameters whose silent omission would
change the answer (n, best_of, echo, logprobs, suffix, tools) are refused with a
clear 400 instead of being ignored.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping, Sequence

import numpy as np

from ..collab.answer import Answer
from ..errors import NodeError
from ..json_types import JsonObject, JsonValue

MAX_PROMPTS = 8
"""Prompts in one /v1/completions request (each is a separate question to the network)."""
MAX_EMBED_INPUTS = 256
MAX_STOPS = 4  # OpenAI's limit
MAX_STOP_CHARS = 64  # the task protocol's limit per sequence
FINISH_REASONS = ("stop", "length")


class OpenAIRequestError(NodeError):
    """A request an OpenAI endpoint rejects; rendered by ``error_body`` with ``status``."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> JsonObject:
        """The error in OpenAI's JSON shape."""
        return error_body(str(self), self.kind, param=self.param, code=self.code)


CHAT_UNSUPPORTED = ("n", "logprobs", "top_logprobs", "tools", "functions", "logit_bias")
COMPLETION_UNSUPPORTED = ("n", "best_of", "echo", "logprobs", "suffix", "logit_bias")

_REFUSED_UNLESS: dict[str, tuple[object, ...]] = {
    # parameter: the values that mean "not used" (anything else would be silently ignored)
    "n": (None, 1),
    "best_of": (None, 1),
    "echo": (None, False),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "suffix": (None, ""),
    "tools": (None, []),
    "functions": (None, []),
    "logit_bias": (None, {}),
}


def refuse_unsupported(body: Mapping[str, JsonValue], names: Sequence[str]) -> None:
    """400 for a parameter in ``names`` set to a value this API cannot honour."""
    for name in names:
        value = body.get(name)
        if not any(value == ok and type(value) is type(ok) for ok in _REFUSED_UNLESS[name]):
            raise OpenAIRequestError(400, f"{name}={value!r} is not supported by peermind; leave it out",
                           param=name, code="unsupported_parameter")


def finish_reason(answer: Answer, max_tokens: int) -> str:
    """The answering peer's own reason; only a peer that gave none is judged by its token count."""
    if answer.finish_reason in FINISH_REASONS:
        return answer.finish_reason
    return "length" if answer.completion_tokens >= max_tokens else "stop"


def usage(answers: Sequence[Answer]) -> dict[str, int]:
    """Token counts of the delivered answers, as their peers counted them."""
    prompt = sum(a.prompt_tokens for a in answers)
    completion = sum(a.completion_tokens for a in answers)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_completion(answer: Answer, max_tokens: int) -> dict[str, object]:
    """A ``chat.completion`` object; peermind's provenance rides in an extra ``peermind`` key."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer.text},
            "logprobs": None,
            "finish_reason": finish_reason(answer, max_tokens),
        }],
        "usage": usage([answer]),
        "peermind": answer.provenance(),
    }


def text_completion(answers: Sequence[Answer], max_tokens: int) -> dict[str, object]:
    """A ``text_completion`` object with one choice per prompt, each with its provenance.

    The top-level ``peermind`` is the first choice's provenance (as in chat); ``model`` is
    the first answer's model, and every choice's ``peermind.model`` names its own.
    """
    return {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": answers[0].model,
        "choices": [
            {"index": i, "text": a.text, "logprobs": None, "finish_reason": finish_reason(a, max_tokens),
             "peermind": a.provenance()}
            for i, a in enumerate(answers)
        ],
        "usage": usage(answers),
        "peermind": answers[0].provenance(),
    }


def _texts(body: Mapping[str, object], param: str, most: int) -> tuple[str, ...]:
    """``body[param]`` as a string or a list of 1..``most`` non-empty strings (token-ID lists refused)."""
    given = body.get(param)
    items = [given] if isinstance(given, str) else given
    if not isinstance(items, list) or not items or len(items) > most:
        raise OpenAIRequestError(400, f"{param} must be a string or a list of 1..{most} strings", param=param)
    if not all(isinstance(t, str) for t in items):
        raise OpenAIRequestError(400, f"{param} must be text: token-ID {param}s are not supported", param=param)
    if not all(t.strip() for t in items):
        raise OpenAIRequestError(400, f"{param} must not be empty or hold empty strings", param=param)
    return tuple(items)


def completion_prompts(body: Mapping[str, JsonValue]) -> tuple[str, ...]:
    """``prompt``: a string or a list of 1..MAX_PROMPTS non-empty strings."""
    return _texts(body, "prompt", MAX_PROMPTS)


def stop_sequences(body: Mapping[str, object]) -> tuple[str, ...]:
    """``stop`` as a string or a list of up to MAX_STOPS strings (1..MAX_STOP_CHARS characters)."""
    given = body.get("stop")
    if given is None or given == "" or given == []:
        return ()
    stops = [given] if isinstance(given, str) else given
    if (not isinstance(stops, list) or len(stops) > MAX_STOPS
            or not all(isinstance(x, str) and 1 <= len(x) <= MAX_STOP_CHARS for x in stops)):
        raise OpenAIRequestError(400, f"stop must be a string or a list of up to {MAX_STOPS} strings of "
                                 f"1..{MAX_STOP_CHARS} characters", param="stop")
    return tuple(stops)


def embedding_inputs(body: Mapping[str, JsonValue]) -> tuple[str, ...]:
    """``input``: a string or a list of 1..MAX_EMBED_INPUTS non-empty strings."""
    return _texts(body, "input", MAX_EMBED_INPUTS)


def encoding_format(body: Mapping[str, JsonValue]) -> str:
    """``encoding_format``: float (default) or base64; anything else is a 400."""
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise OpenAIRequestError(400, f"encoding_format must be float or base64, got {fmt!r}", param="encoding_format")
    return str(fmt)


def embedding_list(vectors: np.ndarray, tokens: Sequence[int], *, model: str, fmt: str,
                   truncated: Sequence[int] = ()) -> dict[str, object]:
    """An embeddings ``list``; base64 is little-endian float32, as OpenAI sends it.

    ``peermind.truncated`` lists the inputs longer than the model reads (it embedded their start).
    """
    rows = np.asarray(vectors, dtype="<f4")
    data = [
        {"object": "embedding", "index": i,
         "embedding": base64.b64encode(row.tobytes()).decode() if fmt == "base64" else [float(x) for x in row]}
        for i, row in enumerate(rows)
    ]
    total = int(sum(tokens))
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": total, "total_tokens": total},
            "peermind": {"truncated": list(truncated), "dimensions": int(rows.shape[1]) if rows.ndim == 2 else 0}}


def error_body(message: str, kind: str, *, param: str | None = None, code: str | None = None) -> JsonObject:
    """OpenAI's error object: the stock client reads ``message``, ``type``, ``param`` and ``code``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
