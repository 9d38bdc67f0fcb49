"""Reading a JSON request body and the typed error every route module raises.

Shared by ``app.py`` and the per-subsystem ``routes_*.py`` modules, so they all reject
bad bodies the same way and none has to import another route module.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import NodeError

__all__ = ["MAX_BODY_BYTES", "ApiError", "Endpoint", "RouteWrapper", "error_response", "json_body"]

MAX_BODY_BYTES = 1 << 20

Endpoint = Callable[[Request], Awaitable[Response]]
# app.py's ``route(path, methods)``: wraps an endpoint with the shared error handling.
RouteWrapper = Callable[[str, list[str]], Callable[[Endpoint], Route]]


class ApiError(NodeError):
    """A request the API rejects; carries the HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def error_response(status: int, message: str, kind: str) -> JSONResponse:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}`` with ``status``."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}}, status_code=status)


async def json_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object (``{}`` when empty); ``ApiError`` 413/400 otherwise."""
    raw = await request.body()
    if len(raw) > max_bytes:
        raise ApiError(413, f"request body over {max_bytes} bytes")
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ApiError(400, f"request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body
