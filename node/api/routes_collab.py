"""HTTP routes of the router and feedback (``node/collab``), mounted by ``app.build_app``.

    GET  /peermind/router             router, seed progress, feedback counts, embedder state
    POST /peermind/router/seed        {datasets, limit, validation_limit, generation_items,
                                       target_escalation, target_share, wait,
                                       data: {name, records: [seed file lines]}} -> 202 progress
                                      (or 200 with the summary when wait=true)
    GET  /peermind/router/seed        seed progress (poll this)
    POST /peermind/router/calibrate   {target_escalation, target_share} -> new calibration
                                      (target_escalation omitted/null: best rate in 30-50% on validation)
    POST /peermind/feedback           {task_id, correct} -> rows labelled
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..collab.router_state import json_safe
from ..collab.seed import DEFAULT_TARGET_ESCALATION, DEFAULT_TARGET_SHARE, SeedPlan, user_items
from .body import ApiError, RouteWrapper, json_body

if TYPE_CHECKING:
    from ..collab.service import Collaboration

__all__ = ["collab_routes", "seed_plan"]



def _fraction(body: Mapping[str, object], key: str, default: float | None) -> float | None:
    value = body.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ApiError(400, f"{key} must be a number in [0, 1], got {value!r}")
    return float(value)


def _count(body: Mapping[str, object], key: str, default: int, hi: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
        raise ApiError(400, f"{key} must be a whole number in [0, {hi}], got {value!r}")
    return value


def seed_plan(body: Mapping[str, object]) -> SeedPlan:
    """The seeding plan a ``POST /peermind/router/seed`` body asks for; ``ApiError`` 400 if malformed."""
    items = user_items(body["data"]) if "data" in body else ()  # the user's own items (router seed --data)
    datasets = body.get("datasets", [] if items else ["arc_easy", "sciq"])
    if isinstance(datasets, str):
        datasets = [d.strip() for d in datasets.split(",") if d.strip()]
    if not isinstance(datasets, list) or not (datasets or items) or not all(isinstance(d, str) for d in datasets):
        raise ApiError(400, "datasets must be a non-empty list of dataset names, e.g. [\"arc_easy\", \"sciq\"]")
    from peermind.bench import DATASETS

    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ApiError(400, f"unknown datasets {unknown}; choose from {', '.join(DATASETS)}")
    limit = _count(body, "limit", 100, 100_000)
    return SeedPlan(
        datasets=tuple(datasets),
        limit=limit,
        validation_limit=_count(body, "validation_limit", max(10, limit // 2), 100_000),
        generation_items=_count(body, "generation_items", 10, 10_000),
        target_escalation=_fraction(body, "target_escalation", DEFAULT_TARGET_ESCALATION),
        target_share=_fraction(body, "target_share", DEFAULT_TARGET_SHARE) or 0.0,
        items=items,
    )


def collab_routes(collab: Collaboration, route: RouteWrapper) -> list[Route]:
    """Routes serving ``collab``; ``route`` wraps each so the app's error mapping applies."""

    @route("/peermind/router", ["GET"])
    async def router_status(_: Request) -> Response:
        return JSONResponse(json_safe(collab.status()))

    @route("/peermind/router/seed", ["GET", "POST"])
    async def seed(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(json_safe(collab.seeder.progress.to_json()))
        body = await json_body(request)
        plan = seed_plan(body)
        progress = collab.start_seed(plan)
        if body.get("wait"):
            progress = await collab.wait_seed()
            return JSONResponse(json_safe(progress.to_json()), status_code=200 if progress.state == "done" else 503)
        return JSONResponse(json_safe(progress.to_json()), status_code=202)

    @route("/peermind/router/calibrate", ["POST"])
    async def calibrate(request: Request) -> Response:
        body = await json_body(request)
        result = await collab.calibrate(
            _fraction(body, "target_escalation", DEFAULT_TARGET_ESCALATION),
            _fraction(body, "target_share", DEFAULT_TARGET_SHARE) or 0.0,
        )
        return JSONResponse(json_safe(result))

    @route("/peermind/feedback", ["POST"])
    async def feedback(request: Request) -> Response:
        body = await json_body(request)
        task_id, correct = body.get("task_id"), body.get("correct")
        if not isinstance(task_id, str) or not task_id.strip():
            raise ApiError(400, "task_id must be the task_id string from an answer's provenance")
        if not isinstance(correct, bool):
            raise ApiError(400, "correct must be true or false")
        return JSONResponse({"task_id": task_id, "correct": correct, **collab.mark(task_id, correct)})

    return [router_status, seed, calibrate, feedback]
