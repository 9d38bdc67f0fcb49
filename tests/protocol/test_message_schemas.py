"""Schemas: declared limits, typed errors naming the field, forward compatibility."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError, dataclass
from typing import Annotated, ClassVar

import pytest
from peermind.protocol import (
    REQUIRED_KEY,
    CapabilityAd,
    ChatMessage,
    FeedbackRecord,
    Limits,
    Message,
    ModelInfo,
    PeerOpinion,
    SchemaError,
    Signer,
    TaskAward,
    TaskOffer,
    TaskRefusal,
    TaskRequest,
    TaskResult,
    TrainMessage,
    TrustOpinion,
    UnknownRequiredField,
    message_types,
    truncate_utf8,
)
from protocol_testkit import NOW_MS, sample_request

PEER = Signer.from_seed(b"P" * 32).peer_id_b58


def test_registry_holds_every_top_level_type() -> None:
    assert set(message_types) == {
        "ad.capability", "task.request", "task.result", "task.refusal", "task.offer",
        "task.bid", "task.award", "feedback.record", "trust.opinion", "train.invite",
        "train.message", "train.reply", "task.chunk", "task.outcome",
    }
    assert all(cls.TYPE == name for name, cls in message_types.items())
    assert "" not in message_types  # nested records are not registered


def test_to_body_uses_sorted_keys_and_round_trips() -> None:
    req = sample_request(stop=["\n\n"])
    body = req.to_body()
    assert list(body) == sorted(body)
    assert list(body["messages"][0]) == ["content", "role"]
    assert TaskRequest.from_body(body) == req


def test_optional_absent_field_is_omitted_and_defaults_apply() -> None:
    offer = TaskOffer(task_id=b"o" * 16, kind="score", deadline_ms=NOW_MS)
    body = offer.to_body()
    assert "embedding_digest" not in body
    minimal = {"task_id": b"o" * 16, "kind": "score", "deadline_ms": NOW_MS}
    parsed = TaskOffer.from_body(minimal)
    assert parsed == offer
    assert parsed.max_tokens == 128 and parsed.embedding_digest is None
    assert TaskOffer.from_body({**minimal, "embedding_digest": None}).embedding_digest is None


def test_messages_are_frozen() -> None:
    req = sample_request()
    with pytest.raises(FrozenInstanceError):
        req.max_tokens = 5  # type: ignore[misc]


def test_default_lists_are_not_shared() -> None:
    a = TaskResult(task_id=b"a" * 16)
    b = TaskResult(task_id=b"b" * 16)
    assert a.scores is not b.scores


# --- every kind of limit, at construction and at decoding -------------------


@pytest.mark.parametrize(
    "override,field",
    [
        ({"task_id": b"short"}, "task_id"),
        ({"task_id": "t" * 16}, "task_id"),
        ({"kind": "translate"}, "kind"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 4097}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": 12.0}, "max_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"deadline_ms": -1}, "deadline_ms"),
        ({"deadline_ms": 2**63}, "deadline_ms"),
        ({"model": "m" * 129}, "model"),
        ({"prompt": None}, "prompt"),
        ({"continuations": ["x"] * 33}, "continuations"),
        ({"continuations": "abc"}, "continuations"),
        ({"stop": [""]}, "stop"),
        ({"messages": [ChatMessage(role="user", content="hi")] * 65}, "messages"),
    ],
)
def test_limit_violations_raise_schema_error_naming_the_field(
    override: dict[str, object], field: str
) -> None:
    with pytest.raises(SchemaError) as built:
        sample_request(**override)
    assert built.value.field.startswith(field)
    assert field in str(built.value) and "task.request" in str(built.value)
    body = {**sample_request().to_body(), **override}
    body["messages"] = [m.to_body() if isinstance(m, ChatMessage) else m
                        for m in body["messages"]]
    with pytest.raises(SchemaError) as decoded:
        TaskRequest.from_body(body)
    assert decoded.value.field.startswith(field)


def test_nested_errors_name_the_exact_item() -> None:
    body = sample_request().to_body()
    body["messages"] = [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]
    with pytest.raises(SchemaError) as info:
        TaskRequest.from_body(body)
    assert info.value.field == "messages[1].role"
    body["messages"] = [{"role": "user", "content": "a"}, "not a map"]
    with pytest.raises(SchemaError, match=r"messages\[1\]"):
        TaskRequest.from_body(body)
    body["messages"] = [{"role": "user"}]
    with pytest.raises(SchemaError, match=r"messages\[0\]\.content"):
        TaskRequest.from_body(body)


def test_string_limits_count_utf8_bytes() -> None:
    ok = "é" * 256  # 512 bytes
    TaskRefusal(task_id=b"t" * 16, reason="busy", detail=ok)
    with pytest.raises(SchemaError, match="detail"):
        TaskRefusal(task_id=b"t" * 16, reason="busy", detail=ok + "x")


def test_truncate_utf8_fits_byte_limits_without_splitting_characters() -> None:
    detail = truncate_utf8("é" * 300, 512)
    assert len(detail.encode()) == 512
    TaskRefusal(task_id=b"t" * 16, reason="internal", detail=detail)
    assert truncate_utf8("héllo", 2) == "h"
    assert truncate_utf8("ok", 10) == "ok"
    assert truncate_utf8("a\ud800b", 10) == "a?b"


def test_lone_surrogates_are_rejected_before_encoding() -> None:
    with pytest.raises(SchemaError, match="UTF-8"):
        ChatMessage(role="user", content="\ud800")


def test_integers_are_accepted_for_float_fields_and_normalised() -> None:
    bid = TaskRefusal.from_body({"task_id": b"t" * 16, "reason": "busy"})
    assert bid.retry_after_ms == 0
    result = TaskResult.from_body({"task_id": b"t" * 16, "latency_ms": 5})
    assert result.latency_ms == 5.0 and type(result.latency_ms) is float
    built = TaskResult(task_id=b"t" * 16, latency_ms=7)
    assert type(built.latency_ms) is float
    assert built.to_body()["latency_ms"] == 7.0


def test_booleans_are_not_integers_and_integers_are_not_booleans() -> None:
    with pytest.raises(SchemaError, match="chat"):
        ModelInfo(name="m", chat=1)  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="correct"):
        FeedbackRecord(task_id=b"t" * 16, peer=PEER, mode="route", correct=True)


def test_enumerated_integers() -> None:
    for correct in (-1, 0, 1):
        FeedbackRecord(task_id=b"t" * 16, peer=PEER, mode="vote", correct=correct)
    with pytest.raises(SchemaError, match="correct"):
        FeedbackRecord(task_id=b"t" * 16, peer=PEER, mode="vote", correct=2)


def test_peer_fields_must_look_like_base58() -> None:
    TaskAward(task_id=b"t" * 16, winner=PEER)
    for bad in ("", "0OIl", "peer id with spaces", "x" * 129):
        with pytest.raises(SchemaError, match="winner"):
            TaskAward(task_id=b"t" * 16, winner=bad)


def test_network_name_alphabet() -> None:
    CapabilityAd(network="test-net_1.0", ttl_s=60, seq=0)
    with pytest.raises(SchemaError, match="network"):
        CapabilityAd(network="evil/topic", ttl_s=60, seq=0)


def test_capability_ad_limits() -> None:
    with pytest.raises(SchemaError, match="addrs"):
        CapabilityAd(network="n", ttl_s=60, seq=0, addrs=["/ip4/1.2.3.4/tcp/1"] * 17)
    with pytest.raises(SchemaError, match="models"):
        CapabilityAd(network="n", ttl_s=60, seq=0, models=[ModelInfo(name="m")] * 9)
    with pytest.raises(SchemaError, match="ttl_s"):
        CapabilityAd(network="n", ttl_s=86_401, seq=0)
    with pytest.raises(SchemaError, match="load"):
        CapabilityAd(network="n", ttl_s=60, seq=0, load=2e6)
    with pytest.raises(SchemaError, match="cost_per_1k"):
        CapabilityAd(network="n", ttl_s=60, seq=0, cost_per_1k=-1.0)
    with pytest.raises(SchemaError, match="models"):
        CapabilityAd(network="n", ttl_s=60, seq=0, models=[{"name": "m"}])  # type: ignore[list-item]


def test_trust_opinion_limits() -> None:
    TrustOpinion(epoch=1, opinions=[PeerOpinion(peer=PEER, trust=1.0)] * 256)
    with pytest.raises(SchemaError, match="opinions"):
        TrustOpinion(epoch=1, opinions=[PeerOpinion(peer=PEER, trust=1.0)] * 257)
    with pytest.raises(SchemaError, match="trust"):
        PeerOpinion(peer=PEER, trust=1.01)


def test_train_payload_limit() -> None:
    TrainMessage(run_id="r", round=0, payload=bytes(8 * 1024 * 1024))
    with pytest.raises(SchemaError, match="payload"):
        TrainMessage(run_id="r", round=0, payload=bytes(8 * 1024 * 1024 + 1))


def test_tuples_and_bytearrays_are_normalised() -> None:
    req = sample_request(continuations=("a", "b"), kind="score", task_id=bytearray(b"t" * 16))
    assert req.continuations == ["a", "b"] and type(req.task_id) is bytes


# --- cross-field rules -------------------------------------------------------


def test_generate_needs_messages_or_prompt() -> None:
    sample_request(messages=[], prompt="Once upon a time")
    with pytest.raises(SchemaError, match="messages"):
        sample_request(messages=[], prompt="")
    body = sample_request().to_body()
    body["messages"] = []
    with pytest.raises(SchemaError, match="messages"):
        TaskRequest.from_body(body)


def test_score_needs_continuations() -> None:
    with pytest.raises(SchemaError, match="continuations"):
        sample_request(kind="score", continuations=[])


# --- bodies and forward compatibility ---------------------------------------


def test_missing_required_field() -> None:
    body = sample_request().to_body()
    del body["deadline_ms"]
    with pytest.raises(SchemaError) as info:
        TaskRequest.from_body(body)
    assert info.value.field == "deadline_ms" and "missing" in str(info.value)


def test_body_must_be_a_map() -> None:
    with pytest.raises(SchemaError):
        TaskRequest.from_body([1, 2])  # type: ignore[arg-type]


def test_unknown_fields_are_ignored() -> None:
    body = {**sample_request().to_body(), "priority": "high", "x": [1, {"y": None}]}
    assert TaskRequest.from_body(body) == sample_request()


def test_required_known_fields_are_fine() -> None:
    body = {**sample_request().to_body(), REQUIRED_KEY: ["kind", "max_tokens"]}
    assert TaskRequest.from_body(body) == sample_request()


def test_required_unknown_field_is_rejected() -> None:
    body = {**sample_request().to_body(), "priority": 1, REQUIRED_KEY: ["kind", "priority"]}
    with pytest.raises(UnknownRequiredField) as info:
        TaskRequest.from_body(body)
    assert info.value.field == "priority"
    assert isinstance(info.value, SchemaError)


def test_required_in_nested_record() -> None:
    body = sample_request().to_body()
    body["messages"] = [{"role": "user", "content": "x", "lang": "fr", REQUIRED_KEY: ["lang"]}]
    with pytest.raises(UnknownRequiredField) as info:
        TaskRequest.from_body(body)
    assert info.value.field == "messages[0].lang"


@pytest.mark.parametrize("required", ["kind", [1], ["x"] * 65, {"kind": 1}])
def test_malformed_required_list(required: object) -> None:
    body = {**sample_request().to_body(), REQUIRED_KEY: required}
    with pytest.raises(SchemaError, match=REQUIRED_KEY):
        TaskRequest.from_body(body)


def test_fields_info_describes_limits() -> None:
    info = {f.name: f for f in TaskRequest.fields_info()}
    assert info["task_id"].required and info["task_id"].limits == "exactly 16 bytes"
    assert not info["max_tokens"].required and info["max_tokens"].default == 128
    assert info["max_tokens"].limits == "1..4096"
    assert info["messages"].type_name == "list[ChatMessage]"


# --- the schema machinery itself -----------------------------------------------


def test_unbounded_declarations_are_refused() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Unbounded(Message):
        TYPE: ClassVar[str] = "test.unbounded"
        text: str

    try:
        with pytest.raises(TypeError, match="max_len"):
            Unbounded(text="x")
    finally:
        message_types.pop("test.unbounded", None)


def test_duplicate_message_type_is_refused() -> None:
    with pytest.raises(TypeError, match="already used"):

        @dataclass(frozen=True, kw_only=True)
        class Impostor(Message):
            TYPE: ClassVar[str] = "task.request"
            x: Annotated[int, Limits(ge=0)] = 0
