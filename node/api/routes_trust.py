"""HTTP routes of the trust wiring (``node/trust_wiring``), mounted by ``app.build_app``.

- ``GET /peermind/trust``: thresholds, counters and one row per known peer (local score,
  standing, global trust, evidence counts, exclusion) — ``peermind peers --trust``.
- ``GET /peermind/trust/peers/{peer}``: the explanation of one peer (ID or unique
  prefix) — ``peermind trust explain PEER``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..trust_wiring import PeerNotKnown
from .body import error_response

if TYPE_CHECKING:
    from ..trust_wiring import TrustWiring

__all__ = ["trust_routes"]


def trust_routes(trust: TrustWiring) -> list[Route]:
    """Routes serving ``trust`` (the node's TrustWiring); they share the app's auth middleware."""

    async def overview(_: Request) -> Response:
        return JSONResponse(trust.snapshot())

    async def explain(request: Request) -> Response:
        peer = request.path_params["peer"]
        if not 1 <= len(peer) <= 128:
            return error_response(400, "peer must be 1-128 characters", "invalid_request_error")
        try:
            return JSONResponse(trust.explain(peer))
        except PeerNotKnown as exc:
            return error_response(404, str(exc), "unknown_peer")

    return [
        Route("/peermind/trust", overview, methods=["GET"]),
        Route("/peermind/trust/peers/{peer}", explain, methods=["GET"]),
    ]
