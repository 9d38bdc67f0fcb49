"""How the harness treats the node's answers and refusals (a small fake client; no sockets)."""

from typing import Any

import pytest
from peermind.bench import Item
from peermind.node.client import ApiRequestFailed
from peermind.testnet._eval_ask import BACKOFF_S, UnsupportedMode, ask_item
from peermind.testnet._eval_outcomes import Peer

ITEM = Item("q1", "toy", "What is 2 + 2?", ("3", "4"), 1, None, "mc")
NUMERIC = Item("q2", "toy", "What is 6 x 7?", None, None, "42", "numeric")
PROV = {"answered_by": "peer-b", "model": "large", "cost": 0.01, "attempts": [{"peer_id": "peer-b"}]}


class FakeClient:
    """Fails with the given errors first, then answers; records what it was asked."""

    def __init__(self, errors: list[ApiRequestFailed], text: str = "") -> None:
        self.errors = errors
        self.text = text
        self.calls: list[dict[str, Any]] = []

    def score(self, context: str, continuations: list[str], **options: Any) -> tuple[list[tuple[float, int]], dict[str, Any]]:
        self.calls.append(options)
        if self.errors:
            raise self.errors.pop(0)
        return [(-5.0, 1), (-1.0, 1)], PROV

    def ask(self, question: str, **options: Any) -> Any:
        self.calls.append(options)
        return type("R", (), {"text": self.text, "provenance": PROV})()


def _refusal(reason: str) -> ApiRequestFailed:
    return ApiRequestFailed(503, "all_candidates_failed", f"no candidate answered (peer-b…: refused:{reason} x)", {})


def test_pinned_peer_and_outcome_fields() -> None:
    client = FakeClient([])
    out = ask_item(client, ITEM, peer=Peer("peer-b", "large", 270, 0.4))  # type: ignore[arg-type]
    assert out.correct and out.cost == 0.01 and out.model == "large" and out.latency_ms >= 0
    assert client.calls[0]["peer"] == "peer-b"


def test_throttled_calls_are_waited_out_and_counted() -> None:
    waits: list[float] = []
    client = FakeClient([_refusal("rate_limited"), _refusal("busy")])
    out = ask_item(client, ITEM, mode="route", sleep=waits.append)  # type: ignore[arg-type]
    assert out.correct and out.retries == 2 and waits == list(BACKOFF_S[:2])


def test_persistent_throttling_ends_as_a_wrong_answer_with_the_error() -> None:
    client = FakeClient([_refusal("rate_limited")] * (len(BACKOFF_S) + 1))
    out = ask_item(client, ITEM, sleep=lambda _s: None)  # type: ignore[arg-type]
    assert not out.correct and "rate_limited" in out.error and out.retries == len(BACKOFF_S)


def test_other_failures_are_wrong_answers_and_unknown_modes_raise() -> None:
    failed = ask_item(FakeClient([ApiRequestFailed(503, "all_candidates_failed", "timeout", {})]), ITEM)  # type: ignore[arg-type]
    assert not failed.correct and failed.error and failed.retries == 0
    with pytest.raises(UnsupportedMode):
        ask_item(FakeClient([ApiRequestFailed(400, "invalid_request_error", "mode must be one of auto, route", {})]),  # type: ignore[arg-type]
                 ITEM, mode="moa")


def test_numeric_answers_are_graded_on_the_last_number_before_a_new_question() -> None:
    right = ask_item(FakeClient([], text="6 x 7 = 42\nQuestion: what is 1+1? 2"), NUMERIC)  # type: ignore[arg-type]
    assert right.correct
    wrong = ask_item(FakeClient([], text="It is 41."), NUMERIC)  # type: ignore[arg-type]
    assert not wrong.correct
