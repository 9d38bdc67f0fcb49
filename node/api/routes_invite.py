"""``POST /peermind/invite``: a signed, expiring invite token to this node's network.

The node signs with its own key (the CLI never touches it); the body may set ``ttl_s``.
A private network's token carries its secret, so the route sits behind the API token
like every other route.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ConfigError
from .body import ApiError, error_response, json_body

__all__ = ["invite_routes"]

IssueInvite = Callable[[float], dict[str, object]]


def invite_routes(issue: IssueInvite, default_ttl_s: float) -> list[Route]:
    """``POST /peermind/invite``: a signed, expiring join token (``peermind invite``)."""
    async def invite(request: Request) -> Response:
        try:
            body = await json_body(request)
        except ApiError as exc:
            return error_response(exc.status, str(exc), exc.kind)
        ttl = body.get("ttl_s", default_ttl_s)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float):
            return error_response(400, f"ttl_s must be a number of seconds, got {ttl!r}", "invalid_request_error")
        try:
            return JSONResponse(issue(float(ttl)))
        except ConfigError as exc:
            return error_response(400, str(exc), "invalid_request_error")

    return [Route("/peermind/invite", invite, methods=["POST"])]
