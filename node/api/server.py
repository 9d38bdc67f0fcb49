"""Serve the API inside the daemon's trio process with hypercorn's trio worker."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from .app import build_app

if TYPE_CHECKING:
    from .ports import ApiNode

log = logging.getLogger("peermind.node.api")


async def serve_api(
    node: ApiNode,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Run until cancelled or ``shutdown_trigger`` returns (then finish open requests, up to
    ``graceful_timeout``); ``task_status.started`` receives the bound base URL."""
    cfg = HypercornConfig()
    cfg.bind = [node.config.api]
    cfg.accesslog = None
    cfg.errorlog = logging.getLogger("peermind.node.api.server")
    cfg.graceful_timeout = 3.0
    cfg.keep_alive_timeout = 30.0

    async def started(*, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(build_app(node), cfg, task_status=task_status, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]

    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(started)
        url = urls[0].rstrip("/") if urls else f"http://{node.config.api}"
        task_status.started(url)
