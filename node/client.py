"""A small Python client for a node's local API: what the CLI and programs use.

``NodeClient("127.0.0.1:8080").ask("question", mode="route")`` returns the answer and
its provenance; errors come back as ``ClientError`` subclasses with the server's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from .errors import NodeError


class ClientError(NodeError):
    """The API could not be reached or rejected the request."""


class ApiUnreachable(ClientError):
    """Nothing answered at the API address."""


class ApiRequestFailed(ClientError):
    """The API answered with an error; ``status`` and ``kind`` come from its JSON body."""

    def __init__(self, status: int, kind: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(f"{message} (HTTP {status}, {kind})")
        self.status = status
        self.kind = kind
        self.body = body


@dataclass(frozen=True)
class AskResult:
    text: str
    provenance: dict[str, Any]


def normalise_api(api: str) -> str:
    api = api.strip().rstrip("/")
    return api if api.startswith(("http://", "https://")) else f"http://{api}"


class NodeClient:
    def __init__(self, api: str, *, token: str | None = None, timeout_s: float = 300.0) -> None:
        self.base_url = normalise_api(api)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TransportError as exc:
            raise ApiUnreachable(f"no peermind node API at {self.base_url} ({type(exc).__name__}); is the daemon running?") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                err = body.get("error", {})
                raise ApiRequestFailed(response.status_code, err.get("type", "error"), err.get("message", response.text), body)
            except ValueError:
                raise ApiRequestFailed(response.status_code, "error", response.text[:300], {}) from None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def status(self) -> dict[str, Any]:
        return self._request("GET", "/status")

    def peers(self) -> list[dict[str, Any]]:
        return self._request("GET", "/peermind/peers")["peers"]

    def trust(self) -> dict[str, Any]:
        """Thresholds, counters and local/global trust of every known peer (``GET /peermind/trust``)."""
        return self._request("GET", "/peermind/trust")

    def trust_explain(self, peer: str) -> dict[str, Any]:
        """Why ``peer`` (an ID or unique prefix) has its score."""
        return self._request("GET", f"/peermind/trust/peers/{peer}")

    def console_state(self) -> dict[str, Any]:
        """Everything the console shows (topology, tasks, trust, training) in one JSON object."""
        return self._request("GET", "/console/state")

    def metrics(self) -> str:
        return self._request("GET", "/metrics")

    def ask(self, question: str, *, mode: str = "auto", max_tokens: int = 128, temperature: float = 0.0, **options: Any) -> AskResult:
        body = {"question": question, "mode": mode, "max_tokens": max_tokens, "temperature": temperature}
        body.update({k: v for k, v in options.items() if v is not None})
        data = self._request("POST", "/peermind/ask", body)
        return AskResult(data["text"], data["provenance"])

    def score(self, context: str, continuations: list[str], *, mode: str = "auto", **options: Any) -> tuple[list[tuple[float, int]], dict[str, Any]]:
        body = {"context": context, "continuations": continuations, "mode": mode}
        body.update({k: v for k, v in options.items() if v is not None})
        data = self._request("POST", "/peermind/score", body)
        return [(s["logprob"], s["n_tokens"]) for s in data["scores"]], data["provenance"]

    # -- router and feedback (node/collab)
    def router_status(self) -> dict[str, Any]:
        """Router version and heads, feedback counts, validation metrics, seed progress."""
        return self._request("GET", "/peermind/router")

    def router_seed(self, datasets: list[str], *, limit: int = 100, wait: bool = False, **options: Any) -> dict[str, Any]:
        """Start seeding (returns progress at once; poll ``seed_progress``) or, with ``wait``, block until done."""
        body = {"datasets": datasets, "limit": limit, "wait": wait}
        body.update({k: v for k, v in options.items() if v is not None})
        return self._request("POST", "/peermind/router/seed", body)

    def seed_progress(self) -> dict[str, Any]:
        return self._request("GET", "/peermind/router/seed")

    def router_calibrate(self, **targets: Any) -> dict[str, Any]:
        return self._request("POST", "/peermind/router/calibrate", {k: v for k, v in targets.items() if v is not None})

    def feedback(self, task_id: str, *, correct: bool) -> dict[str, Any]:
        """Mark the answer with this provenance ``task_id`` right or wrong (labels router rows)."""
        return self._request("POST", "/peermind/feedback", {"task_id": task_id, "correct": correct})


def ask(question: str, *, api: str | None = None, token: str | None = None, mode: str = "auto", **options: Any) -> AskResult:
    """One question through a running node: ``ask("What is 2+2?", mode="cascade", budget_ms=5000)``.

    ``api`` defaults to ``$PEERMIND_API`` or 127.0.0.1:8080; ``options`` are the request's peermind
    options (budget_ms, max_cost, local_only, require_tags, min_quality, k, proposers, aggregator,
    cost_weight, threshold, escalate_to, vote_rule, negotiate, timeout_s, max_tokens).
    """
    import os

    api = api or os.environ.get("PEERMIND_API") or "127.0.0.1:8080"
    token = token or os.environ.get("PEERMIND_API_TOKEN")
    with NodeClient(api, token=token) as client:
        return client.ask(question, mode=mode, **options)
