"""Python client for the training endpoints (what `peermind train` and the benchmarks use)."""

from __future__ import annotations

from typing import Any

from ..client import NodeClient


class TrainingClient(NodeClient):
    """``NodeClient`` plus the ``/peermind/train/*`` calls."""

    def __enter__(self) -> TrainingClient:
        return self

    def train_start(self, **request: Any) -> dict[str, Any]:
        """Start a federated run with ``request`` (strategy, rounds, peers, ...)."""
        body = {k: v for k, v in request.items() if v is not None}
        return self._request("POST", "/peermind/train/start", body)

    def train_status(self, run_id: str | None = None, *, audit: bool = False) -> dict[str, Any]:
        """The current run, or ``run_id``'s, optionally with its audit."""
        params = []
        if run_id:
            params.append(f"run_id={run_id}")
        if audit:
            params.append("audit=1")
        query = f"?{'&'.join(params)}" if params else ""
        return self._request("GET", f"/peermind/train/status{query}")

    def train_history(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest recorded rounds."""
        return self._request("GET", f"/peermind/train/history?limit={limit}")["rounds"]

    def train_join(self, coordinator: str | None = None) -> dict[str, Any]:
        """Take part in ``coordinator``'s runs (any coordinator when None)."""
        return self._request("POST", "/peermind/train/join", {"coordinator": coordinator})

    def train_leave(self) -> dict[str, Any]:
        """Stop taking part in federated runs."""
        return self._request("POST", "/peermind/train/leave", {})

    @classmethod
    def wrap(cls, client: NodeClient) -> TrainingClient:
        """The same connection (address, token) as an existing NodeClient."""
        wrapped = cls.__new__(cls)
        wrapped.base_url = client.base_url
        wrapped._http = client._http
        return wrapped
