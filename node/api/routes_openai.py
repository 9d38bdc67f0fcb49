"""OpenAI endpoints beyond chat: ``/v1/completions``, ``/v1/embeddings``, ``/v1/models``.

    POST /v1/completions   raw prompt completion (base models such as Gemma-3-270M have no chat
                           template); same ``peermind`` routing options as chat; ``stream=true``
                           sends tokens as they are generated (``completion_stream``)
    POST /v1/embeddings    this node's embedder (all-MiniLM-L6-v2, 384 dims), float or base64
    GET  /v1/models        generation models with a fresh ad (peers listed) plus the embedder

Rejections are OpenAI-shaped (``{"error": {message, type, param, code}}``) with the right
status. The embedder loads in a worker thread on first use (5-25 s); a request waits for
it up to ``EMBED_LOAD_WAIT_S`` and then gets 503 with ``Retry-After`` (the stock client
retries on its own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import trio
from peermind.federated import EMBED_DIM, EmbedderUnavailable
from peermind.federated import MODEL_NAME as EMBED_MODEL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..collab.answer import Answer
from ..collab.candidates import Candidate
from ..collab.constraints import Constraints, RequestOptions, parse_request_options
from ..collab.job import Job
from ..errors import NodeError
from .body import RouteWrapper, json_body
from .completion_stream import CompletionStream
from .openai_format import (
    COMPLETION_UNSUPPORTED,
    OpenAIRequestError,
    completion_prompts,
    embedding_inputs,
    embedding_list,
    encoding_format,
    error_body,
    refuse_unsupported,
    stop_sequences,
    text_completion,
)

if TYPE_CHECKING:
    from .ports import ApiNode

__all__ = ["AUTO_MODELS", "EMBED_LOAD_WAIT_S", "model_list", "openai_exception_handlers", "openai_routes", "pin_model"]


AUTO_MODELS = (None, "", "auto", "peermind")
"""Model names that leave the choice to peermind's routing."""
EMBED_LOAD_WAIT_S = 20.0
EMBED_RETRY_AFTER_S = 5
COMPLETION_DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions


def pin_model(candidates: Sequence[Candidate], requested: object, constraints: Constraints) -> Constraints:
    """Constraints that make ``requested`` the model that answers (unchanged for "auto").

    Routing has no model filter, so where other models could be chosen a named model is
    honoured by pinning one peer that serves it: the one the request pinned, else this
    node, else the first with a fresh ad. Where every candidate serves it, routing stays free.
    """
    if requested in AUTO_MODELS:
        return constraints
    if not isinstance(requested, str):
        raise OpenAIRequestError(400, "model must be a string", param="model")
    if requested == EMBED_MODEL:
        raise OpenAIRequestError(400, f"{requested} is an embedding model; use /v1/embeddings", param="model")
    hosts = [c for c in candidates if c.model == requested]
    if not hosts:
        raise OpenAIRequestError(404, f"no peer serves model {requested!r}; see GET /v1/models",
                                 param="model", code="model_not_found")
    if constraints.peer is not None:
        if all(c.peer_id != constraints.peer for c in hosts):
            raise OpenAIRequestError(400, f"peer {constraints.peer} does not serve model {requested!r}", param="model")
        return constraints
    if len(hosts) == len(candidates):
        return constraints
    chosen = next((c for c in hosts if c.is_local), hosts[0])
    return replace(constraints, peer=chosen.peer_id)


def model_list(candidates: Sequence[Candidate], *, my_id: str, created: int, embedder_loaded: bool) -> dict[str, object]:
    """``GET /v1/models``: each generation model once, with the peers serving it, then the embedder."""
    peers: dict[str, list[str]] = {}
    for c in candidates:
        peers.setdefault(c.model, []).append(c.peer_id)
    models: list[dict[str, object]] = [
        {"id": model, "object": "model", "created": created, "owned_by": "peermind", "kind": "generate", "peers": serving}
        for model, serving in peers.items()
    ]
    embedder = {"id": EMBED_MODEL, "object": "model", "created": created, "owned_by": "peermind", "kind": "embedding",
                "peers": [my_id], "dimensions": EMBED_DIM, "loaded": embedder_loaded}
    return {"object": "list", "data": [*models, embedder]}


def _max_tokens(body: Mapping[str, object], default: int, limit: int) -> int:
    value = body.get("max_tokens")
    if value is None:
        return min(default, limit)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise OpenAIRequestError(400, f"max_tokens must be a whole number in [1, {limit}], got {value!r}",
                                 param="max_tokens")
    return value


def _temperature(body: Mapping[str, object]) -> float:
    value = body.get("temperature")
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise OpenAIRequestError(400, f"temperature must be a number in [0, 2], got {value!r}", param="temperature")
    return float(value)


async def _ask_all(node: ApiNode, jobs: Sequence[Job], opts: RequestOptions, constraints: Constraints) -> list[Answer]:
    """Ask every job at once; the first failure (a typed NodeError) is raised after all end."""
    slots: list[Answer | NodeError | None] = [None] * len(jobs)

    async def one(i: int, job: Job) -> None:
        try:
            slots[i] = await node.ask(job, mode=opts.mode, constraints=constraints, timeout_s=opts.timeout_s,
                                      tactics=opts.tactics)
        except NodeError as exc:
            slots[i] = exc

    async with trio.open_nursery() as nursery:
        for i, job in enumerate(jobs):
            nursery.start_soon(one, i, job)
    for slot in slots:
        if isinstance(slot, NodeError):
            raise slot
    return [s for s in slots if isinstance(s, Answer)]


def openai_routes(node: ApiNode, route: RouteWrapper) -> list[Route]:
    """The routes above, wrapped by ``route`` (app's ``guarded``: it renders ``OpenAIRequestError``)."""
    @route("/v1/models", ["GET"])
    async def models(_: Request) -> Response:
        return JSONResponse(model_list(node.candidates(), my_id=node.peer_id, created=int(node.started_at),
                                       embedder_loaded=node.collab.embedder.loaded))

    @route("/v1/completions", ["POST"])
    async def completions(request: Request) -> Response:
        body = await json_body(request)
        refuse_unsupported(body, COMPLETION_UNSUPPORTED)
        prompts = completion_prompts(body)
        max_tokens = _max_tokens(body, COMPLETION_DEFAULT_MAX_TOKENS, node.config.limits.max_tokens)
        temperature = _temperature(body)
        opts = parse_request_options(body.get("peermind", body))
        constraints = pin_model(node.candidates(), body.get("model"), opts.constraints)
        stop = stop_sequences(body)
        jobs = [Job(kind="generate", prompt=p, max_tokens=max_tokens, temperature=temperature, stop=stop)
                for p in prompts]
        if body.get("stream"):
            return CompletionStream([partial(node.ask, job, mode=opts.mode, constraints=constraints,
                                             timeout_s=opts.timeout_s, tactics=opts.tactics) for job in jobs],
                                    mode=opts.mode, model=str(body.get("model") or "auto"), max_tokens=max_tokens,
                                    timeout_s=opts.timeout_s)
        answers = await _ask_all(node, jobs, opts, constraints)
        return JSONResponse(text_completion(answers, max_tokens))

    @route("/v1/embeddings", ["POST"])
    async def embeddings(request: Request) -> Response:
        body = await json_body(request)
        model = body.get("model")
        if model not in (*AUTO_MODELS, EMBED_MODEL, f"sentence-transformers/{EMBED_MODEL}"):
            raise OpenAIRequestError(404, f"this node embeds with {EMBED_MODEL} only, not {model!r}",
                                     param="model", code="model_not_found")
        if body.get("dimensions") not in (None, EMBED_DIM):
            raise OpenAIRequestError(400, f"{EMBED_MODEL} has {EMBED_DIM} dimensions only", param="dimensions")
        inputs = embedding_inputs(body)
        fmt = encoding_format(body)
        embedder = node.collab.embedder
        embedder.request_load()  # the background loader marks it loaded even if this request gives up
        try:
            with trio.move_on_after(EMBED_LOAD_WAIT_S):
                out = await embedder.embed_counted(inputs)
                return JSONResponse(embedding_list(out.vectors, out.tokens, model=EMBED_MODEL, fmt=fmt,
                                                   truncated=out.truncated))
        except EmbedderUnavailable as exc:
            raise OpenAIRequestError(503, str(exc), kind="server_error", code="embedder_unavailable") from exc
        raise OpenAIRequestError(503, f"the embedding model is still loading; retry in {EMBED_RETRY_AFTER_S} s",
                                 kind="server_error", code="model_loading",
                                 headers={"retry-after": str(EMBED_RETRY_AFTER_S)})

    return [models, completions, embeddings]


async def _http_error(_: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown path, wrong method) in OpenAI's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return JSONResponse(error_body(str(detail), "invalid_request_error" if status < 500 else "server_error"),
                        status_code=status)


async def _unexpected(_: Request, exc: Exception) -> Response:
    """Any unexpected failure: one OpenAI-shaped line for the client (the traceback stays in the log)."""
    return JSONResponse(error_body(f"internal error ({type(exc).__name__}); see the node's log", "server_error"),
                        status_code=500)


def openai_exception_handlers() -> dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]]:
    """For ``Starlette(exception_handlers=...)``."""
    return {HTTPException: _http_error, Exception: _unexpected}
