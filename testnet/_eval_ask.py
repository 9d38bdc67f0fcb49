"""Put one benchmark item to the network through a node's public API, as a user would.

Multiple choice goes to ``/peermind/score`` (length-normalised log-likelihood of each
choice, ``normalized_choice``); numeric items go to ``/peermind/ask`` and are graded
by the last number of the generated text. ``peer=`` pins one peer (single-model
baselines); ``mode=`` lets the node's collaboration policy decide (route, cascade, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
from peermind.bench import Item, mc_context, mc_continuations, normalized_choice, numeric_correct
from peermind.node.client import ApiRequestFailed, ApiUnreachable, NodeClient

from ._eval_outcomes import Outcome, Peer
from .errors import EvalError

# A chat model may reason over several paragraphs, so only a new "Question:" ends the
# answer here; models without a chat template are already stopped at a blank line by
# the node (its question/answer prompt).
ANSWER_END = "Question:"


# Peers throttle a client that sends back-to-back questions (refusal "rate_limited" or
# "busy"); a polite client waits and asks again. Latency is that of the final call;
# the number of waits is kept in ``Outcome.retries``.
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0)


class UnsupportedMode(EvalError):
    """The node does not serve this collaboration mode (yet)."""


def _throttled(exc: ApiRequestFailed) -> bool:
    text = str(exc)
    return exc.status == 503 and ("rate_limited" in text or "refused:busy" in text)


def _unsupported(exc: ApiRequestFailed) -> bool:
    text = str(exc).lower()
    return (exc.status == 400 and "mode" in text) or "unknown mode" in text


def ask_item(
    client: NodeClient,
    item: Item,
    *,
    mode: str = "route",
    peer: Peer | None = None,
    max_tokens: int = 128,
    timeout_s: float = 120.0,
    peer_models: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """The outcome of one item; network failures become a wrong answer with ``error`` set."""
    for retries, wait_s in enumerate((*BACKOFF_S, None)):
        try:
            return _ask_once(client, item, mode=mode, peer=peer, max_tokens=max_tokens, timeout_s=timeout_s,
                             peer_models=peer_models, retries=retries)
        except _Throttled as exc:
            if wait_s is None:
                return replace(exc.outcome, retries=retries)
            sleep(wait_s)
    raise AssertionError("unreachable")


class _Throttled(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def _ask_once(client: NodeClient, item: Item, *, mode: str, peer: Peer | None, max_tokens: int, timeout_s: float,
              peer_models: dict[str, str] | None, retries: int) -> Outcome:
    options: dict[str, Any] = {"mode": mode, "timeout_s": timeout_s}
    if peer is not None:
        options["peer"] = peer.peer_id
    started = time.perf_counter()
    try:
        if item.kind == "mc":
            scores, prov = client.score(mc_context(item), mc_continuations(item), **options)
            correct = normalized_choice(scores) == item.gold
        else:
            result = client.ask(item.query, max_tokens=max_tokens, **options)
            prov = result.provenance
            correct = numeric_correct(item, result.text.split(ANSWER_END, 1)[0])
    except ApiRequestFailed as exc:
        if _unsupported(exc):
            raise UnsupportedMode(str(exc)) from exc
        failed = Outcome(False, 0.0, _ms(started), error=f"{exc.kind}: {exc}"[:300], retries=retries)
        if _throttled(exc):
            raise _Throttled(failed) from exc
        return failed
    except ApiUnreachable as exc:
        if isinstance(exc.__cause__, httpx.TimeoutException):
            return Outcome(False, 0.0, _ms(started), error=f"client timeout after {_ms(started):.0f} ms", retries=retries)
        raise EvalError(f"lost the node API during the evaluation: {exc}") from exc
    latency = _ms(started)
    answered_by = str(prov.get("answered_by", ""))
    model = str(prov.get("model") or (peer_models or {}).get(answered_by, ""))
    attempts = prov.get("attempts") or []
    asked = len({a.get("peer_id") for a in attempts if isinstance(a, dict)}) or 1
    return Outcome(
        correct=bool(correct),
        cost=float(prov.get("cost") or 0.0),
        latency_ms=latency,
        answered_by=answered_by,
        model=model,
        escalated=bool(prov.get("escalated", False)),
        asked=asked,
        retries=retries,
        task_id=str(prov.get("task_id") or ""),
    )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
