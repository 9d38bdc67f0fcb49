"""``task.outcome``: the signed verdicts an asker sends the peers that answered it."""

from __future__ import annotations

import pytest
from peermind.protocol import (
    MAX_OUTCOMES,
    OUTCOME_PROTOCOL_ID,
    OutcomeEntry,
    SchemaError,
    Signer,
    TaskOutcome,
    Verifier,
    seal,
)
from protocol_testkit import (
    NOW_MS,
    SPEC_PATH,
    VECTOR_TASK_ID,
    check_printed_vectors,
    parse_vectors,
    render_vectors,
    sealed_vectors,
)

OUTCOME_TIMESTAMP_MS = 1_700_000_000_002
OUTCOME_NONCE = bytes([2]) * 16
ASKER = Signer.from_seed(b"A" * 32)
WORKER = Signer.from_seed(b"W" * 32)


def vector_outcome() -> TaskOutcome:
    return TaskOutcome(outcomes=[OutcomeEntry(task_id=VECTOR_TASK_ID, correct=True, split="validation")])


def test_spec_outcome_vectors_match_the_code() -> None:
    computed = sealed_vectors(vector_outcome(), OUTCOME_TIMESTAMP_MS, OUTCOME_NONCE)
    printed = parse_vectors(SPEC_PATH.read_text(), marker="outcome-vectors")
    assert printed == computed, "SPEC.md outcome vectors are out of date; paste:\n" + render_vectors(computed)


def test_outcome_vector_verifies_as_a_foreign_implementer_would() -> None:
    check_printed_vectors("outcome-vectors", vector_outcome(), OUTCOME_TIMESTAMP_MS, OUTCOME_NONCE)


def test_spec_names_the_outcome_protocol() -> None:
    assert OUTCOME_PROTOCOL_ID in SPEC_PATH.read_text()


def test_outcome_round_trips_signed_from_asker_to_worker() -> None:
    notice = TaskOutcome(outcomes=[OutcomeEntry(task_id=b"t" * 16, correct=False),
                                   OutcomeEntry(task_id=b"u" * 16, correct=True, split="train")])
    wire = seal(ASKER, notice, WORKER.peer_id_b58, now_ms=NOW_MS)
    env = Verifier().open(wire, expected_sender=ASKER.peer_id, expected_recipient=WORKER.peer_id_b58, now_ms=NOW_MS)
    assert env.body == notice and env.msg_type == "task.outcome"
    assert notice.outcomes[0].split == "train"  # the default


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"outcomes": []}, "outcomes"),
        ({"outcomes": [{"task_id": b"t" * 16, "correct": True}] * (MAX_OUTCOMES + 1)}, "outcomes"),
        ({"outcomes": [{"task_id": b"short", "correct": True}]}, "task_id"),
        ({"outcomes": [{"task_id": b"t" * 16, "correct": 1}]}, "correct"),
        ({"outcomes": [{"task_id": b"t" * 16}]}, "correct"),
        ({"outcomes": [{"task_id": b"t" * 16, "correct": True, "split": "test"}]}, "split"),
        ({}, "outcomes"),
    ],
)
def test_bad_outcome_bodies_are_schema_errors_naming_the_field(body: dict[str, object], problem: str) -> None:
    with pytest.raises(SchemaError, match=problem):
        TaskOutcome.from_body(body)
