"""The /v1 completions, embeddings and models routes over HTTP, with a small fake node (no model, no network).

The real-process version is test_api_openai.py; this one covers what a real node makes slow
or rare: the embedder still loading (503 + Retry-After), and exactly which Job a request becomes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from peermind.node.api import routes_openai
from peermind.node.api.openai_format import OpenAIRequestError
from peermind.node.collab.answer import Answer
from peermind.node.collab.candidates import Candidate
from peermind.node.collab.constraints import Constraints
from peermind.node.collab.embedding import QueryEmbedder
from peermind.node.collab.job import Job
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from .collab_fakes import FakeEncoder, candidate


class SlowEncoder(FakeEncoder):
    """Takes ``load_s`` on its first call, like torch loading MiniLM."""

    def __init__(self, load_s: float) -> None:
        self.load_s = load_s
        self.loaded = False

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not self.loaded:
            time.sleep(self.load_s)
            self.loaded = True
        return super().encode(texts)


@dataclass
class Limits:
    max_tokens: int = 256


@dataclass
class Config:
    limits: Limits = field(default_factory=Limits)


@dataclass
class Collab:
    embedder: QueryEmbedder


@dataclass
class FakeNode:
    """What the routes use of a Node: its candidates, its embedder, ``ask``."""

    embedder: QueryEmbedder
    finish: str = "length"
    peer_id: str = "me"
    started_at: float = 1_700_000_000.0
    config: Config = field(default_factory=Config)
    asked: list[tuple[Job, Constraints]] = field(default_factory=list)

    @property
    def collab(self) -> Collab:
        return Collab(self.embedder)

    def candidates(self) -> list[Candidate]:
        return [candidate("me", "smollm2", local=True), candidate("g1", "gemma3-270m")]

    async def ask(self, job: Job, *, mode: str, constraints: Constraints, timeout_s: float, tactics: object) -> Answer:
        self.asked.append((job, constraints))
        return Answer(text=f"<{job.prompt}>", mode=mode, answered_by=constraints.peer or "me", model="gemma3-270m",
                      confidence=-0.1, cost=0.0, latency_ms=1.0, prompt_tokens=len(job.prompt),
                      completion_tokens=job.max_tokens, finish_reason=self.finish)


def app_for(node: FakeNode) -> TestClient:
    def route(path: str, methods: list[str]) -> Any:
        def wrap(handler: Any) -> Route:
            async def endpoint(request: Request) -> Response:
                try:
                    return await handler(request)
                except OpenAIRequestError as exc:  # as app.build_app's guard renders it
                    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

            return Route(path, endpoint, methods=methods)

        return wrap

    app = Starlette(routes=routes_openai.openai_routes(node, route),  # type: ignore[arg-type]
                    exception_handlers=routes_openai.openai_exception_handlers())
    return TestClient(app, backend="trio")


def test_embeddings_answer_503_with_retry_after_while_the_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_openai, "EMBED_LOAD_WAIT_S", 0.2)
    embedder = QueryEmbedder(SlowEncoder(load_s=1.5))
    with app_for(FakeNode(embedder)) as client:
        r = client.post("/v1/embeddings", json={"input": "hello"})
        assert r.status_code == 503 and r.headers["retry-after"] == str(routes_openai.EMBED_RETRY_AFTER_S)
        assert r.json()["error"]["code"] == "model_loading"
        time.sleep(1.6)  # the abandoned worker thread finishes loading
        r = client.post("/v1/embeddings", json={"input": ["hello there", "bye"], "encoding_format": "float"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [len(d["embedding"]) for d in body["data"]] == [384, 384]
        assert body["usage"] == {"prompt_tokens": 4 + 3, "total_tokens": 7}  # FakeEncoder: words + [CLS]/[SEP]


def test_completion_request_becomes_prompt_jobs_pinned_to_the_named_model() -> None:
    node = FakeNode(QueryEmbedder(FakeEncoder()))
    with app_for(node) as client:
        r = client.post("/v1/completions", json={"model": "gemma3-270m", "prompt": ["a", "b"], "max_tokens": 5,
                                                 "stop": "\n", "temperature": 0.5})
        assert r.status_code == 200, r.text
        body = r.json()
    assert sorted(job.prompt for job, _ in node.asked) == ["a", "b"]
    job, constraints = node.asked[0]
    assert (job.kind, job.max_tokens, job.stop, job.temperature, job.messages) == ("generate", 5, ("\n",), 0.5, ())
    assert constraints.peer == "g1"
    assert [c["text"] for c in body["choices"]] == ["<a>", "<b>"]
    assert [c["finish_reason"] for c in body["choices"]] == ["length", "length"]
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 10, "total_tokens": 12}


def test_completion_defaults_and_refusals() -> None:
    node = FakeNode(QueryEmbedder(FakeEncoder()), finish="stop")
    with app_for(node) as client:
        r = client.post("/v1/completions", json={"prompt": "x"})
        assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] == "stop"
        assert node.asked[0][0].max_tokens == routes_openai.COMPLETION_DEFAULT_MAX_TOKENS
        assert node.asked[0][1].peer is None  # no model named: routing decides
        for body, status, param in [({"prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
                                    ({"prompt": "x", "max_tokens": 10_000}, 400, "max_tokens"),
                                    ({"prompt": "x", "temperature": 3}, 400, "temperature"),
                                    ({"prompt": "x", "model": "gpt-4"}, 404, "model")]:
            r = client.post("/v1/completions", json=body)
            assert (r.status_code, r.json()["error"]["param"]) == (status, param), body
        r = client.get("/v1/nowhere")
        assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
        r = client.get("/v1/embeddings")
        assert r.status_code == 405 and "error" in r.json()


def test_streamed_completion_sends_each_prompts_answer_then_finish_and_total_usage() -> None:
    """stream=true: the fake answers whole, so each prompt's text comes as one piece, then its finish event."""
    node = FakeNode(QueryEmbedder(FakeEncoder()))
    with app_for(node) as client, client.stream("POST", "/v1/completions", json={
            "model": "gemma3-270m", "prompt": ["a", "b"], "max_tokens": 5, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        data = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    events = [json.loads(d) for d in data[:-1]]
    assert {e["object"] for e in events} == {"text_completion"} and len({e["id"] for e in events}) == 1
    by_prompt = {i: [e["choices"][0] for e in events if e["choices"] and e["choices"][0]["index"] == i] for i in (0, 1)}
    assert [[c["text"] for c in choices] for choices in by_prompt.values()] == [["<a>", ""], ["<b>", ""]]
    assert [[c["finish_reason"] for c in choices] for choices in by_prompt.values()] == [[None, "length"]] * 2
    assert events[-1]["choices"] == [] and events[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 10,
                                                                   "total_tokens": 12}
    assert sorted(job.prompt for job, _ in node.asked) == ["a", "b"] and node.asked[0][1].peer == "g1"


def test_models_route_lists_candidates_and_the_embedder() -> None:
    with app_for(FakeNode(QueryEmbedder(FakeEncoder()))) as client:
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == ["smollm2", "gemma3-270m", "all-MiniLM-L6-v2"]
