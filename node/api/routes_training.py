"""HTTP routes of federated training (``node/training``), mounted by ``app.build_app``.

POST /peermind/train/start    {rounds, min_nodes, strategy, engine, round_timeout_s, ...} -> 202 run
GET  /peermind/train/status   [?run_id=...&audit=1] -> availability + the current (or named) run
GET  /peermind/train/history  [?limit=N] -> recorded rounds (all roles), newest first
POST /peermind/train/join     {coordinator?: multiaddr | peer ID} -> become available, dial it
POST /peermind/train/leave    {} -> stop taking part in new runs
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import NodeError
from ..p2p.host import BadMultiaddr, HostError, PeerUnreachable
from ..training import InvalidRunRequest, RunInProgress, RunRequest, TrainingError
from .body import ApiError, error_response, json_body

if TYPE_CHECKING:
    from ..training import TrainingService

__all__ = ["training_routes"]

MAX_BODY = 64 * 1024
Endpoint = Callable[[Request], Awaitable[Response]]


async def _body(request: Request) -> dict[str, object]:
    """Training's bodies are small; a bad one is an ``InvalidRunRequest`` (400) like bad fields."""
    try:
        return await json_body(request, MAX_BODY)
    except ApiError as exc:
        raise InvalidRunRequest(str(exc)) from exc


def _guard(handler: Endpoint) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except (InvalidRunRequest, BadMultiaddr) as exc:
            return error_response(400, str(exc), "invalid_request_error")
        except RunInProgress as exc:
            return error_response(409, str(exc), "run_in_progress")
        except (PeerUnreachable, HostError) as exc:
            return error_response(502, str(exc), "peer_unreachable")
        except TrainingError as exc:
            return error_response(422, str(exc), "training_error")
        except NodeError as exc:
            return error_response(500, f"{type(exc).__name__}: {exc}", "node_error")

    return endpoint


def training_routes(service: TrainingService) -> list[Route]:
    """Routes serving the node's ``TrainingService``."""

    async def start(request: Request) -> Response:
        run = service.start(RunRequest.from_json(await _body(request)))
        return JSONResponse(run.to_json(audit=False), status_code=202)

    async def status(request: Request) -> Response:
        run_id = request.query_params.get("run_id")
        body = service.status()
        if run_id is not None:
            run = service.get_run(run_id)
            if run is None:
                return error_response(404, f"no run {run_id} on this node (it keeps the last few)", "not_found")
            body["run"] = run.to_json(audit=request.query_params.get("audit") == "1")
        elif body["run"] is not None and request.query_params.get("audit") == "1":
            assert service.active is not None
            body["run"] = service.active.to_json(audit=True)
        return JSONResponse(body)

    async def history(request: Request) -> Response:
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise InvalidRunRequest(f"limit must be an integer in 1..1000, got {raw!r}")
        return JSONResponse({"rounds": service.history(int(raw))})

    async def join(request: Request) -> Response:
        body = await _body(request)
        coordinator = body.get("coordinator")
        if coordinator is not None and (not isinstance(coordinator, str) or len(coordinator) > 512):
            raise InvalidRunRequest("coordinator must be a multiaddr or peer ID string")
        return JSONResponse(await service.join(coordinator or None))

    async def leave(_: Request) -> Response:
        service.set_available(False)
        return JSONResponse({"available": False})

    return [
        Route("/peermind/train/start", _guard(start), methods=["POST"]),
        Route("/peermind/train/status", _guard(status), methods=["GET"]),
        Route("/peermind/train/history", _guard(history), methods=["GET"]),
        Route("/peermind/train/join", _guard(join), methods=["POST"]),
        Route("/peermind/train/leave", _guard(leave), methods=["POST"]),
    ]
