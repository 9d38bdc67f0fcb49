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


class BadApiAddress(ClientError):
    """The API address is not HOST:PORT (or an http(s) URL); nothing was sent."""


class ApiUnreachable(ClientError):
    """Nothing answered at the API address."""


class ApiTimeout(ApiUnreachable):
    """The API accepted the connection but did not answer within the client's timeout."""


class NotPeermindApi(ClientError):
    """Something answered at the address, but not as a peermind node API does."""


class ApiRequestFailed(ClientError):
    """The API answered with an error; ``status`` and ``kind`` come from its JSON body."""

    hint = ""  # what the user can do about it, appended to the message

    def __init__(self, status: int, kind: str, message: str, body: dict[str, object]) -> None:
        super().__init__(f"{message} (HTTP {status}, {kind}){self.hint}")
        self.status = status
        self.kind = kind
        self.body = body


class ApiAuthFailed(ApiRequestFailed):
    """The node refused the API token (HTTP 401/403)."""

    hint = "; give the node's api_token with --token or PEERMIND_API_TOKEN"


# httpx's errors -> ours, most specific first (as httpx maps httpcore's): the one place
# where a lower layer's exception becomes a typed, one-line ClientError.
_TRANSPORT_ERRORS: tuple[tuple[type[Exception], type[ClientError], str], ...] = (
    (httpx.InvalidURL, BadApiAddress, "{url} is not an API address ({detail}); give HOST:PORT, e.g. 127.0.0.1:8080"),
    (httpx.UnsupportedProtocol, BadApiAddress, "{url} is not an API address ({detail}); give HOST:PORT, e.g. 127.0.0.1:8080"),
    (httpx.TimeoutException, ApiTimeout, "the node API at {url} did not answer within {timeout:g} s ({kind})"),
    (httpx.ConnectError, ApiUnreachable, "no peermind node API at {url} ({kind}: {detail}); is the daemon running?"),
    (httpx.ProtocolError, NotPeermindApi, "{url} does not speak HTTP like a peermind node API ({kind}: {detail})"),
    (httpx.DecodingError, NotPeermindApi, "{url} sent a body that could not be decoded ({detail})"),
    (httpx.TransportError, ApiUnreachable, "lost the connection to the node API at {url} ({kind}: {detail})"),
)
# HTTP statuses that get their own type (others are ApiRequestFailed).
_STATUS_ERRORS: dict[int, type[ApiRequestFailed]] = {401: ApiAuthFailed, 403: ApiAuthFailed}


def translate_error(exc: httpx.HTTPError | httpx.InvalidURL, url: str, timeout_s: float | None = None) -> ClientError:
    """The typed, one-line error for an httpx exception, by ``_TRANSPORT_ERRORS``."""
    detail = _one_line(str(exc)) or type(exc).__name__
    for source, target, template in _TRANSPORT_ERRORS:
        if isinstance(exc, source):
            return target(template.format(url=url, detail=detail, kind=type(exc).__name__, timeout=timeout_s or 0))
    return ClientError(f"request to the node API at {url} failed ({type(exc).__name__}: {detail})")


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class AskResult:
    """An answer from ``/peermind/ask``: its text and provenance."""

    text: str
    provenance: dict[str, Any]


def normalise_api(api: str) -> str:
    """``HOST:PORT`` or an http(s) URL as a base URL; ``BadApiAddress`` when it cannot be one."""
    text = api.strip().rstrip("/")
    url = text if "://" in text else f"http://{text}"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise translate_error(exc, repr(api)) from exc
    problem = (
        f"unsupported scheme {parsed.scheme!r}" if parsed.scheme not in ("http", "https")
        else "no host" if not parsed.host
        else "the host contains spaces" if "%20" in parsed.host or " " in parsed.host
        else f"port {parsed.port} is out of range" if parsed.port is not None and not 0 < parsed.port < 65536
        else ""
    )
    if problem:
        raise BadApiAddress(f"{api!r} is not an API address ({problem}); give HOST:PORT, e.g. 127.0.0.1:8080")
    return url


class NodeClient:
    """The public Python client of a running node's HTTP API (what the CLI and testnet use)."""

    def __init__(self, api: str, *, token: str | None = None, timeout_s: float = 300.0) -> None:
        self.base_url = normalise_api(api)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, json: dict[str, Any] | None = None, *, expect_json: bool = True) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise translate_error(exc, self.base_url, self._http.timeout.read) from exc
        is_json = response.headers.get("content-type", "").startswith("application/json")
        try:
            body = response.json() if is_json else None
        except ValueError as exc:
            raise NotPeermindApi(f"{self.base_url}{path} sent invalid JSON ({exc})") from exc
        if response.status_code >= 400:
            err = body.get("error") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(err, dict):
                raise NotPeermindApi(f"{self.base_url}{path} answered HTTP {response.status_code} {response.reason_phrase} "
                                     "without a peermind error body; is it a peermind node API?")
            error_type = _STATUS_ERRORS.get(response.status_code, ApiRequestFailed)
            raise error_type(response.status_code, str(err.get("type", "error")),
                             _one_line(str(err.get("message", "")) or response.reason_phrase), body)
        if expect_json and not isinstance(body, dict):
            raise NotPeermindApi(f"{self.base_url}{path} did not answer with a JSON object "
                                 f"({response.headers.get('content-type') or 'no content type'}); is it a peermind node API?")
        return body if is_json else response.text

    def status(self) -> dict[str, Any]:
        """The node's ``/status``."""
        return self._request("GET", "/status")

    def invite(self, ttl_s: float | None = None) -> dict[str, Any]:
        """A signed invite token to the node's network (``POST /peermind/invite``)."""
        return self._request("POST", "/peermind/invite", json={} if ttl_s is None else {"ttl_s": ttl_s})

    def peers(self) -> list[dict[str, Any]]:
        """The peers with fresh ads, as the node sees them."""
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
        """The node's Prometheus metrics text."""
        return self._request("GET", "/metrics", expect_json=False)

    def ask(self, question: str, *, mode: str = "auto", max_tokens: int = 128, temperature: float = 0.0, **options: Any) -> AskResult:
        """Ask one question in ``mode`` (options: constraints and tactics, as in ``peermind ask``)."""
        body = {"question": question, "mode": mode, "max_tokens": max_tokens, "temperature": temperature}
        body.update({k: v for k, v in options.items() if v is not None})
        data = self._request("POST", "/peermind/ask", body)
        return AskResult(data["text"], data["provenance"])

    def score(self, context: str, continuations: list[str], *, mode: str = "auto", **options: Any) -> tuple[list[tuple[float, int]], dict[str, Any]]:
        """Score ``continuations`` of ``context``: (log-probability, tokens) per continuation and the provenance."""
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
        """The router seeding run's progress."""
        return self._request("GET", "/peermind/router/seed")

    def router_calibrate(self, **targets: Any) -> dict[str, Any]:
        """Recalibrate escalation thresholds and cost weight with the given targets."""
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
