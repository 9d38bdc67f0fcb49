"""HTTP endpoints of the trust wiring (mounted by ``node/api/app.py``).

- ``GET /peermind/trust``: thresholds, counters and one row per known peer (local score,
  standing, global trust, evidence counts, exclusion) — ``peermind peers --trust``.
- ``GET /peermind/trust/peers/{peer}``: the explanation of one peer (ID or unique
  prefix) — ``peermind trust explain PEER``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._errors import PeerNotKnown

__all__ = ["trust_routes"]


def trust_routes(trust: Any) -> list[Route]:
    """Routes serving ``trust`` (a TrustWiring); they share the app's auth middleware."""

    async def overview(_: Request) -> Response:
        return JSONResponse(trust.snapshot())

    async def explain(request: Request) -> Response:
        peer = request.path_params["peer"]
        if not 1 <= len(peer) <= 128:
            return JSONResponse({"error": {"message": "peer must be 1-128 characters", "type": "invalid_request_error"}},
                                status_code=400)
        try:
            return JSONResponse(trust.explain(peer))
        except PeerNotKnown as exc:
            return JSONResponse({"error": {"message": str(exc), "type": "unknown_peer"}}, status_code=404)

    return [
        Route("/peermind/trust", overview, methods=["GET"]),
        Route("/peermind/trust/peers/{peer}", explain, methods=["GET"]),
    ]
