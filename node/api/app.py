"""The ASGI app: OpenAI-compatible endpoints plus peermind's own.

Existing OpenAI clients work unchanged against ``/v1``; peermind's options (mode,
budgets, locality) ride in an extra ``peermind`` object of the request body, and every
answer carries its provenance in an extra ``peermind`` object of the response.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from peermind.protocol import ChatMessage, ProtocolError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..collab.answer import Answer
from ..collab.constraints import (
    AllCandidatesFailed,
    CollaborationError,
    InfeasibleConstraints,
    RequestOptions,
    parse_request_options,
)
from ..collab.policy import Job
from ..errors import NodeError
from ..invite import DEFAULT_TTL_S
from .body import ApiError, Endpoint
from .body import error_response as _error
from .body import json_body as _json_body
from .chat_stream import ChatStream
from .openai_format import (
    CHAT_UNSUPPORTED,
    OpenAIRequestError,
    chat_completion,
    refuse_unsupported,
    stop_sequences,
)
from .routes_collab import collab_routes
from .routes_console import console_routes, is_public_path
from .routes_invite import invite_routes
from .routes_openai import openai_exception_handlers, openai_routes, pin_model
from .routes_training import training_routes
from .routes_trust import trust_routes

if TYPE_CHECKING:
    from .ports import ApiNode


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


class TokenAuth:
    """Bearer-token check; required whenever the API listens beyond loopback.

    A plain ASGI middleware: starlette's ``BaseHTTPMiddleware`` runs every request's
    handler in a task of its own behind memory streams, which cost each ``/peermind/ask``
    several milliseconds on a loaded 2-core host (issue 17's per-request overhead).
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an HTTP request without the right bearer token (the console page itself is public)."""
        if scope["type"] == "http" and self._token and not is_public_path(scope["path"]):
            given = Headers(scope=scope).get("authorization", "")
            expected = f"Bearer {self._token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                response = _error(401, "missing or wrong API token (Authorization: Bearer ...)", "authentication_error")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _number(body: dict[str, Any], key: str, default: float | None, lo: float, hi: float) -> float | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ApiError(400, f"{key} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _request_options(body: dict[str, Any]) -> RequestOptions:
    """peermind options from an ``peermind`` sub-object (OpenAI requests) or the top level.

    Parsed once per request: mode, constraints, tactics (k, proposers, aggregator, ...) and
    timeout come back together and travel on as one value.
    """
    opts = body.get("peermind", body)
    if not isinstance(opts, dict):
        raise ApiError(400, "peermind must be an object")
    return parse_request_options(opts)


def _messages(body: dict[str, Any]) -> tuple[ChatMessage, ...]:
    """The request's chat turns as the wire's ChatMessages: the one shape they keep to the model."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise ApiError(400, f"messages[{i}] needs a role of system, user or assistant")
        content = m.get("content")
        if isinstance(content, list):  # OpenAI's content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string")
        try:
            out.append(ChatMessage(role=m["role"], content=content))
        except ProtocolError as exc:  # e.g. longer than a task may carry
            raise ApiError(400, f"messages[{i}]: {exc}") from exc
    return tuple(out)


def build_app(node: ApiNode) -> Starlette:
    """The ASGI app of the node's API: OpenAI routes, peermind's own and each subsystem's."""
    async def guarded(request: Request, handler: Endpoint) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return _error(exc.status, str(exc), exc.kind)
        except OpenAIRequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
        except InfeasibleConstraints as exc:
            return JSONResponse(
                {"error": {"message": str(exc), "type": "infeasible_constraints", "param": None, "code": None,
                           "constraint": exc.constraint}},
                status_code=422,
            )
        except AllCandidatesFailed as exc:
            return _error(503, str(exc), "all_candidates_failed")
        except CollaborationError as exc:  # typed collab errors carry their status
            return _error(exc.http_status, str(exc), _snake(type(exc).__name__))
        except NodeError as exc:
            return _error(500, f"{type(exc).__name__}: {exc}", "node_error")

    def route(path: str, methods: list[str]) -> Callable[[Endpoint], Route]:
        def wrap(handler: Endpoint) -> Route:
            async def endpoint(request: Request) -> Response:
                return await guarded(request, handler)

            return Route(path, endpoint, methods=methods)

        return wrap

    async def _ask(job: Job, opts: RequestOptions) -> Answer:
        return await node.ask(job, mode=opts.mode, constraints=opts.constraints, timeout_s=opts.timeout_s,
                              tactics=opts.tactics)

    @route("/v1/chat/completions", ["POST"])
    async def chat(request: Request) -> Response:
        body = await _json_body(request)
        messages = _messages(body)
        opts = _request_options(body)
        limit_key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
        max_tokens = int(_number(body, limit_key, 128, 1, node.config.limits.max_tokens) or 128)
        temperature = _number(body, "temperature", 0.0, 0, 2) or 0.0
        refuse_unsupported(body, CHAT_UNSUPPORTED)
        constraints = pin_model(node.candidates(), body.get("model"), opts.constraints)
        job = Job(kind="generate", messages=messages, max_tokens=max_tokens, temperature=temperature,
                  stop=stop_sequences(body))
        if body.get("stream"):  # tokens as they are generated: see chat_stream
            return ChatStream(lambda: node.ask(job, mode=opts.mode, constraints=constraints,
                                               timeout_s=opts.timeout_s, tactics=opts.tactics),
                              mode=opts.mode, model=str(body.get("model") or "auto"), max_tokens=max_tokens,
                              timeout_s=opts.timeout_s)
        answer = await node.ask(job, mode=opts.mode, constraints=constraints, timeout_s=opts.timeout_s,
                                tactics=opts.tactics)
        return JSONResponse(chat_completion(answer, max_tokens))

    @route("/peermind/ask", ["POST"])
    async def ask(request: Request) -> Response:
        body = await _json_body(request)
        question = body.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ApiError(400, "question must be a non-empty string")
        opts = _request_options(body)
        max_tokens = int(_number(body, "max_tokens", 128, 1, node.config.limits.max_tokens) or 128)
        try:
            job = Job.question(question, max_tokens=max_tokens,
                               temperature=_number(body, "temperature", 0.0, 0, 2) or 0.0)
        except ProtocolError as exc:  # e.g. longer than a task may carry
            raise ApiError(400, f"question: {exc}") from exc
        answer = await _ask(job, opts)
        return JSONResponse({"text": answer.text, "provenance": answer.provenance()})

    @route("/peermind/score", ["POST"])
    async def score(request: Request) -> Response:
        body = await _json_body(request)
        context = body.get("context")
        continuations = body.get("continuations")
        if not isinstance(context, str) or not context:
            raise ApiError(400, "context must be a non-empty string")
        if (not isinstance(continuations, list) or not continuations
                or not all(isinstance(c, str) and c for c in continuations) or len(continuations) > 32):
            raise ApiError(400, "continuations must be a list of 1..32 non-empty strings")
        opts = _request_options(body)
        job = Job(kind="score", prompt=context, continuations=tuple(continuations))
        answer = await _ask(job, opts)
        return JSONResponse({
            "scores": [{"logprob": lp, "n_tokens": n} for lp, n in answer.scores],
            "provenance": answer.provenance(),
        })

    @route("/peermind/peers", ["GET"])
    async def peers(_: Request) -> Response:
        return JSONResponse({"peers": [e.to_json() for e in node.board.fresh()]})

    @route("/peermind/providers", ["GET"])
    async def providers(request: Request) -> Response:
        """DHT provider records: ?model=NAME, ?skill=NAME or ?tag=NAME (exactly one)."""
        asked = [(k, v) for k, v in request.query_params.items() if k in ("model", "skill", "tag") and v]
        if len(asked) != 1 or len(asked[0][1]) > 128:
            raise ApiError(400, "give exactly one of model=, skill= or tag= (1-128 characters)")
        kind, name = asked[0]
        found = await node.find_providers(kind, name)
        with_ad = {e.peer_id for e in node.board.fresh()} | {node.peer_id}
        return JSONResponse({"kind": kind, "name": name, "providers": [
            {"peer_id": p.peer_id, "addrs": list(p.addrs), "has_ad": p.peer_id in with_ad} for p in found
        ]})

    @route("/status", ["GET"])
    async def status(_: Request) -> Response:
        return JSONResponse(node.status())

    @route("/metrics", ["GET"])
    async def metrics(_: Request) -> Response:
        return Response(node.metrics.render(), media_type="text/plain; version=0.0.4")

    return Starlette(
        routes=[*openai_routes(node, route), chat, ask, score, peers, providers, status, metrics, *training_routes(node.training), *console_routes(node),
                *collab_routes(node.collab, route), *trust_routes(node.trust),
                *invite_routes(node.issue_invite, DEFAULT_TTL_S)],
        middleware=[Middleware(TokenAuth, token=node.config.api_token)],
        exception_handlers=openai_exception_handlers(),
    )
