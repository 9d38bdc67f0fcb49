"""Evidence records, their rows, and parameter validation."""

from __future__ import annotations

import math

import pytest
from _trustpeers import pid
from peermind.trust import (
    DEFAULT_WEIGHTS,
    Evidence,
    EvidenceRecord,
    InvalidInput,
    TrustError,
    TrustParams,
    ViolationKind,
    check_peer_id,
)

A = pid("a")


def test_every_kind_has_a_documented_default_weight_with_the_expected_sign() -> None:
    assert set(DEFAULT_WEIGHTS) == set(Evidence)
    positive = {
        Evidence.TASK_OK,
        Evidence.ANSWER_RIGHT,
        Evidence.CROSS_CHECK_AGREE,
        Evidence.UPDATE_OK,
    }
    for kind, weight in DEFAULT_WEIGHTS.items():
        assert (weight > 0) == (kind in positive), kind
    assert Evidence("task_ok") is Evidence.TASK_OK  # str values are the stable row format


def test_record_round_trips_through_a_plain_row() -> None:
    ev = EvidenceRecord(A, Evidence.ANSWER_WRONG, weight_override=-2.5, at=12.5, detail="canary 7")
    row = ev.to_row()
    assert row == {
        "peer": A,
        "kind": "answer_wrong",
        "weight_override": -2.5,
        "at": 12.5,
        "detail": "canary 7",
    }
    assert all(isinstance(v, str | float | type(None)) for v in row.values())
    assert EvidenceRecord.from_row(row) == ev


def test_record_accepts_kind_strings_and_truncates_long_details() -> None:
    ev = EvidenceRecord(A, "timeout", at=1, detail="x" * 1000)  # type: ignore[arg-type]
    assert ev.kind is Evidence.TIMEOUT
    assert len(ev.detail) == 300 and ev.detail.endswith("...")
    assert ev.at == 1.0 and isinstance(ev.at, float)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"peer": "", "kind": "timeout"}, "not a base58 peer ID"),
        ({"peer": "0OIl", "kind": "timeout"}, "not a base58 peer ID"),
        ({"peer": 42, "kind": "timeout"}, "must be a base58 peer-ID string"),
        ({"peer": A, "kind": "nonsense"}, "unknown evidence kind"),
        ({"peer": A, "kind": "timeout", "at": -1.0}, ">= 0"),
        ({"peer": A, "kind": "timeout", "at": math.nan}, "finite"),
        ({"peer": A, "kind": "timeout", "weight_override": math.inf}, "finite"),
        ({"peer": A, "kind": "timeout", "weight_override": "big"}, "number"),
        ({"peer": A, "kind": "timeout", "detail": 5}, "detail must be a string"),
    ],
)
def test_bad_records_raise_a_typed_error_saying_what_is_wrong(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        EvidenceRecord(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, TrustError) and isinstance(info.value, ValueError)


def test_bad_rows_raise_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="lacks peer"):
        EvidenceRecord.from_row({"kind": "timeout", "at": 1.0})
    with pytest.raises(InvalidInput, match="mapping"):
        EvidenceRecord.from_row(["not", "a", "row"])  # type: ignore[arg-type]


def test_peer_id_check_accepts_base58_and_caps_length() -> None:
    assert check_peer_id(A) == A
    assert check_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
    with pytest.raises(InvalidInput):
        check_peer_id("1" * 129)
    with pytest.raises(InvalidInput):
        check_peer_id("12D3 KooW")


def test_violation_subkinds_carry_their_own_weight() -> None:
    params = TrustParams()
    forged = EvidenceRecord(A, Evidence.PROTOCOL_VIOLATION, detail="bad_signature: env 3f")
    skew = EvidenceRecord(A, Evidence.PROTOCOL_VIOLATION, detail=ViolationKind.SCHEMA.value)
    odd = EvidenceRecord(A, Evidence.PROTOCOL_VIOLATION, detail="something else")
    assert forged.subkind == "bad_signature"
    assert params.weight_of(forged) == -8.0
    assert params.weight_of(skew) == -3.0
    assert params.weight_of(odd) == params.weights[Evidence.PROTOCOL_VIOLATION]
    assert EvidenceRecord(A, Evidence.TIMEOUT, detail="bad_signature").subkind == ""


def test_weight_overrides_are_clamped_to_the_event_cap() -> None:
    params = TrustParams(max_event_weight=5.0)
    assert params.weight_of(EvidenceRecord(A, Evidence.UPDATE_OUTLIER, weight_override=-1e6)) == -5
    assert params.weight_of(EvidenceRecord(A, Evidence.UPDATE_OK, weight_override=0.3)) == 0.3


def test_partial_weights_are_completed_from_defaults_and_params_are_immutable() -> None:
    params = TrustParams(weights={"timeout": -1.0})  # type: ignore[dict-item]
    assert params.weights[Evidence.TIMEOUT] == -1.0
    assert params.weights[Evidence.ANSWER_RIGHT] == DEFAULT_WEIGHTS[Evidence.ANSWER_RIGHT]
    with pytest.raises(TypeError):
        params.weights[Evidence.TIMEOUT] = 0.0  # type: ignore[index]


def test_newcomer_prior_is_low_and_between_the_thresholds() -> None:
    params = TrustParams()
    assert params.prior_mean == pytest.approx(0.3)
    assert params.ban_threshold < params.ask_threshold < params.prior_mean
    assert params.prior_mean < params.trusted_threshold


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ask_threshold": 0.5}, "newcomer prior"),
        ({"ban_threshold": 0.2}, "thresholds must satisfy"),
        ({"half_life_s": 0}, "half_life_s must be > 0"),
        ({"prior_alpha": -1}, ">= 0"),
        ({"weights": {"bogus": 1.0}}, "unknown evidence kind"),
        ({"weights": {"timeout": math.nan}}, "finite"),
        ({"request_burst": 0.5}, "one event must fit"),
        ({"probation_interactions": 2.5}, "integer"),
        ({"canary_rate": 1.5}, r"within \[0, 1\]"),
        ({"pow_difficulty_bits": 65}, "0..64"),
        ({"ban_cooldown_s": 1e9}, "max_ban_s"),
    ],
)
def test_inconsistent_params_are_rejected(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        TrustParams(**overrides)  # type: ignore[arg-type]


def test_params_round_trip_through_a_plain_dict() -> None:
    params = TrustParams(half_life_s=100.0, weights={Evidence.FLOOD: -3.0})
    data = params.to_dict()
    assert data["weights"]["flood"] == -3.0
    assert TrustParams.from_dict(data) == params
    with pytest.raises(InvalidInput, match="unknown trust parameter.*bogus"):
        TrustParams.from_dict({"bogus": 1})
