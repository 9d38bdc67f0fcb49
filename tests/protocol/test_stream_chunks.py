"""``task.chunk``: the signed pieces of a streamed answer, their limits and their checks."""

from __future__ import annotations

import msgpack
import pytest
from peermind.protocol import (
    MAX_CHUNK_TEXT,
    BadSignature,
    ChunkAssembler,
    ChunkOutOfOrder,
    ChunkTextMismatch,
    SchemaError,
    Signer,
    StreamViolation,
    TaskChunk,
    TaskRefusal,
    TaskRequest,
    TaskResult,
    Verifier,
    seal,
)
from protocol_testkit import (
    NOW_MS,
    SPEC_PATH,
    VECTOR_SEED,
    VECTOR_TASK_ID,
    check_printed_vectors,
    parse_vectors,
    render_vectors,
    sample_request,
)

CHUNK_TIMESTAMP_MS = 1_700_000_000_001
CHUNK_NONCE = bytes([1]) * 16
TASK = b"t" * 16
WORKER = Signer.from_seed(b"W" * 32)
ASKER = Signer.from_seed(b"A" * 32)


def vector_chunk() -> TaskChunk:
    return TaskChunk(task_id=VECTOR_TASK_ID, seq=0, text="4")


def compute_chunk_vectors() -> dict[str, str]:
    signer = Signer.from_seed(VECTOR_SEED)
    wire = seal(signer, vector_chunk(), "", now_ms=CHUNK_TIMESTAMP_MS, nonce=CHUNK_NONCE)
    payload, signature = msgpack.unpackb(wire)
    return {
        "timestamp_ms": str(CHUNK_TIMESTAMP_MS),
        "nonce": CHUNK_NONCE.hex(),
        "body": msgpack.packb(vector_chunk().to_body(), use_bin_type=True).hex(),
        "payload": payload.hex(),
        "signature": signature.hex(),
        "envelope": wire.hex(),
    }


def test_spec_chunk_vectors_match_the_code() -> None:
    printed = parse_vectors(SPEC_PATH.read_text(), marker="chunk-vectors")
    assert printed == compute_chunk_vectors(), (
        "SPEC.md chunk vectors are out of date; paste:\n" + render_vectors(compute_chunk_vectors()))


def test_chunk_vector_verifies_as_a_foreign_implementer_would() -> None:
    check_printed_vectors("chunk-vectors", vector_chunk(), CHUNK_TIMESTAMP_MS, CHUNK_NONCE)


def test_chunk_round_trips_signed_between_two_peers() -> None:
    chunk = TaskChunk(task_id=TASK, seq=3, text=" Paris")
    wire = seal(WORKER, chunk, ASKER.peer_id_b58, now_ms=NOW_MS)
    env = Verifier().open(wire, expected_sender=WORKER.peer_id, expected_recipient=ASKER.peer_id_b58,
                          now_ms=NOW_MS)
    assert env.body == chunk and env.msg_type == "task.chunk"


def test_a_tampered_chunk_fails_its_signature() -> None:
    wire = bytearray(seal(WORKER, TaskChunk(task_id=TASK, seq=0, text="Paris"), now_ms=NOW_MS))
    at = wire.find(b"Paris")
    wire[at] = ord("B")
    with pytest.raises(BadSignature):
        Verifier().open(bytes(wire), now_ms=NOW_MS)


@pytest.mark.parametrize("bad", [
    {"seq": -1}, {"seq": 262_144}, {"text": ""}, {"text": "x" * (MAX_CHUNK_TEXT + 1)},
    {"text": "é" * (MAX_CHUNK_TEXT // 2 + 1)}, {"task_id": b"short"}, {"seq": True},
])
def test_chunk_limits(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"task_id": TASK, "seq": 0, "text": "ok"} | bad
    with pytest.raises(SchemaError):
        TaskChunk(**fields)  # type: ignore[arg-type]


def test_largest_chunk_is_accepted() -> None:
    assert TaskChunk(task_id=TASK, seq=262_143, text="x" * MAX_CHUNK_TEXT).seq == 262_143


def test_stream_flag_is_absent_unless_asked_so_old_requests_are_byte_identical() -> None:
    assert "stream" not in sample_request().to_body()
    asked = TaskRequest.from_body(sample_request(stream=True).to_body())
    assert asked.stream is True
    assert TaskRequest.from_body(sample_request().to_body()).stream is None


def _chunks(*texts: str, task_id: bytes = TASK) -> list[TaskChunk]:
    return [TaskChunk(task_id=task_id, seq=i, text=t) for i, t in enumerate(texts)]


def test_assembler_accepts_chunks_that_concatenate_to_the_result() -> None:
    asm = ChunkAssembler(TASK, max_chunks=8)
    assert [asm.feed(c) for c in _chunks("The ", "capital", " is Paris.")] == ["The ", "capital", " is Paris."]
    asm.finish(TaskResult(task_id=TASK, text="The capital is Paris."))
    assert asm.count == 3 and asm.text == "The capital is Paris."


def test_assembler_allows_a_worker_that_did_not_stream_and_a_refusal_mid_stream() -> None:
    ChunkAssembler(TASK, max_chunks=8).finish(TaskResult(task_id=TASK, text="whole"))
    asm = ChunkAssembler(TASK, max_chunks=8)
    asm.feed(_chunks("par")[0])
    asm.finish(TaskRefusal(task_id=TASK, reason="internal", detail="decode failed"))


def test_a_result_that_differs_from_its_chunks_is_a_violation_naming_the_signer() -> None:
    asm = ChunkAssembler(TASK, max_chunks=8, sender=WORKER.peer_id)
    for c in _chunks("Par", "is"):
        asm.feed(c)
    with pytest.raises(ChunkTextMismatch) as caught:
        asm.finish(TaskResult(task_id=TASK, text="Rome"))
    assert caught.value.sender == WORKER.peer_id
    assert isinstance(caught.value, StreamViolation)
    with pytest.raises(ChunkTextMismatch):
        asm.finish(TaskResult(task_id=TASK, text="Paris!"))  # a longer final text is no better


@pytest.mark.parametrize("sequence", [
    _chunks("a", "b")[1:],  # starts at seq 1
    [*_chunks("a", "b"), TaskChunk(task_id=TASK, seq=1, text="b")],  # repeated seq
    _chunks("a", task_id=b"u" * 16),  # another task
    _chunks("a", "b", "c", "d"),  # more than max_chunks
])
def test_out_of_order_foreign_or_excess_chunks_are_rejected(sequence: list[TaskChunk]) -> None:
    asm = ChunkAssembler(TASK, max_chunks=3)
    with pytest.raises(ChunkOutOfOrder):
        for c in sequence:
            asm.feed(c)


def test_total_chunk_text_is_capped_like_a_result() -> None:
    asm = ChunkAssembler(TASK, max_chunks=100)
    for i in range(16):
        asm.feed(TaskChunk(task_id=TASK, seq=i, text="x" * MAX_CHUNK_TEXT))
    with pytest.raises(ChunkOutOfOrder):
        asm.feed(TaskChunk(task_id=TASK, seq=16, text="x"))
