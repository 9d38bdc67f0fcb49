"""The web console's routes: the page, its static files, its state and its live stream.

``GET /`` serves a single page (HTML, JS and CSS shipped in ``node/api/static``, no CDN,
no build step) that draws the network this node sees and updates it from ``GET /events``.

Authentication: the page and its static files are public (they hold no data); every data
route (``/console/state``, ``/events``, and the rest of the API) needs the bearer token
when one is configured. The page asks for the token once, keeps it in the tab's
``sessionStorage`` and sends it as an ``Authorization`` header, including for the event
stream, which it reads with ``fetch`` streaming because ``EventSource`` cannot set
headers. Tokens therefore never appear in URLs, logs or browser history.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..events import EventBusError, TooManySubscribers
from ._console_state import ConsoleData, ConsoleNode
from .sse import SectionWatcher, stream_events

__all__ = ["STATIC_PREFIX", "console_routes", "is_public_path"]

STATIC_PREFIX = "/console/static/"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# No external resource may load, and no other site may frame or script the console.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def is_public_path(path: str) -> bool:
    """True for the console page and its static files, which the token check lets through."""
    return path in ("/", "/favicon.ico") or path.startswith(STATIC_PREFIX)


def _static_file(name: str) -> tuple[bytes, str] | None:
    """A shipped static file by name (no sub-directories, known types only); read per request
    (a few KB), so an edited bundle shows on reload without restarting the node."""
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in _MEDIA_TYPES:
        return None
    resource = importlib.resources.files("peermind.node.api.static").joinpath(name)
    try:
        return resource.read_bytes(), _MEDIA_TYPES[suffix]
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _static_response(name: str) -> Response:
    found = _static_file(name)
    if found is None:
        return JSONResponse({"error": {"message": f"no console file {name!r}", "type": "not_found"}}, status_code=404)
    body, media_type = found
    return Response(body, media_type=media_type, headers=_SECURITY_HEADERS)


def _after_id(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def console_routes(node: ConsoleNode) -> list[Route]:
    """Routes to add to the API app, reading ``node`` through the console's typed port."""
    data = ConsoleData(node)

    async def index(_: Request) -> Response:
        return _static_response("index.html")

    async def favicon(_: Request) -> Response:
        return _static_response("favicon.svg")

    async def static(request: Request) -> Response:
        return _static_response(request.path_params["name"])

    async def state(_: Request) -> Response:
        return JSONResponse(data.state())

    async def events(request: Request) -> Response:
        stream = stream_events(node.events, SectionWatcher(data), after_id=_after_id(request))
        try:
            first = await stream.__anext__()  # subscribes now, so a full bus answers 503, not an empty stream
        except EventBusError as exc:  # every slot taken, or the node is shutting down
            kind = "too_many_subscribers" if isinstance(exc, TooManySubscribers) else "shutting_down"
            return JSONResponse({"error": {"message": str(exc), "type": kind}}, status_code=503)

        async def body() -> AsyncIterator[str]:
            try:
                yield first
                async for chunk in stream:
                    yield chunk
            finally:
                await stream.aclose()

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return [
        Route("/", index, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route(STATIC_PREFIX + "{name}", static, methods=["GET"]),
        Route("/console/state", state, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
    ]
