"""Helpers shared by the protocol tests: hand-built envelopes, SPEC.md vectors and tables.

Run ``python tests/protocol/protocol_testkit.py`` to print the generated
sections of SPEC.md (vectors and message tables), e.g. after a deliberate
schema change.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import msgpack
import peermind.protocol as proto
from peermind.protocol import ENVELOPE_DOMAIN, ChatMessage, Signer, TaskRequest, seal

SPEC_PATH = Path(proto.__file__).with_name("SPEC.md")

VECTOR_SEED = bytes(range(32))
VECTOR_TIMESTAMP_MS = 1_700_000_000_000
VECTOR_NONCE = bytes.fromhex("00112233445566778899aabbccddeeff")
VECTOR_TASK_ID = b"peermind-vector1"
VECTOR_RECIPIENT = ""


NOW_MS = 1_800_000_000_000
"""Fixed clock for tests that pass ``now_ms`` explicitly."""


def pack(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def header(signer: Signer, msg_type: str = "task.request", body: object = None, **over: object
           ) -> list[object]:
    """The 8 payload fields of a valid envelope, with overrides by name."""
    fields: dict[str, object] = {
        "version": 1,
        "msg_type": msg_type,
        "sender": signer.peer_id,
        "sender_key": signer.public_key_proto,
        "recipient": "",
        "timestamp_ms": NOW_MS,
        "nonce": b"n" * 16,
        "body": sample_request().to_body() if body is None else body,
    }
    fields.update(over)
    return list(fields.values())


def wire_from_payload(payload: bytes, signer: Signer | None, signature: bytes | None = None
                      ) -> bytes:
    """Envelope bytes around an arbitrary payload, signed correctly unless told otherwise."""
    if signature is None:
        assert signer is not None
        signature = signer.sign(ENVELOPE_DOMAIN + payload)
    return pack([payload, signature])


def wire(signer: Signer, fields: list[object]) -> bytes:
    """Sign an arbitrary (possibly invalid) payload field list properly."""
    return wire_from_payload(pack(fields), signer)


def sample_request(**over: object) -> TaskRequest:
    kwargs: dict[str, object] = {
        "task_id": b"t" * 16,
        "kind": "generate",
        "messages": [ChatMessage(role="user", content="What is the capital of France?")],
        "deadline_ms": NOW_MS + 10_000,
    }
    kwargs.update(over)
    return TaskRequest(**kwargs)  # type: ignore[arg-type]


def vector_request() -> TaskRequest:
    return TaskRequest(
        task_id=VECTOR_TASK_ID,
        kind="generate",
        messages=[ChatMessage(role="user", content="What is 2+2? Answer with one number.")],
        max_tokens=16,
        temperature=0.0,
        deadline_ms=VECTOR_TIMESTAMP_MS + 30_000,
    )


def compute_vectors() -> dict[str, str]:
    """Every value printed in SPEC.md's test-vector block, recomputed from the seed."""
    signer = Signer.from_seed(VECTOR_SEED)
    wire = seal(
        signer, vector_request(), VECTOR_RECIPIENT, now_ms=VECTOR_TIMESTAMP_MS, nonce=VECTOR_NONCE
    )
    payload, signature = msgpack.unpackb(wire)
    return {
        "seed": VECTOR_SEED.hex(),
        "public_key_raw": signer.public_key_raw.hex(),
        "public_key_proto": signer.public_key_proto.hex(),
        "peer_id": signer.peer_id.hex(),
        "peer_id_b58": signer.peer_id_b58,
        "timestamp_ms": str(VECTOR_TIMESTAMP_MS),
        "nonce": VECTOR_NONCE.hex(),
        "body": msgpack.packb(vector_request().to_body(), use_bin_type=True).hex(),
        "payload": payload.hex(),
        "signature": signature.hex(),
        "envelope": wire.hex(),
    }


def sealed_vectors(body: proto.Message, timestamp_ms: int, nonce: bytes) -> dict[str, str]:
    """Vectors of one more message type, sealed with the section-10 key and ``recipient = ""``."""
    wire = seal(Signer.from_seed(VECTOR_SEED), body, "", now_ms=timestamp_ms, nonce=nonce)
    payload, signature = msgpack.unpackb(wire)
    return {
        "timestamp_ms": str(timestamp_ms),
        "nonce": nonce.hex(),
        "body": msgpack.packb(body.to_body(), use_bin_type=True).hex(),
        "payload": payload.hex(),
        "signature": signature.hex(),
        "envelope": wire.hex(),
    }


def check_printed_vectors(marker: str, body: proto.Message, timestamp_ms: int, nonce: bytes) -> None:
    """Verify a SPEC.md vector block step by step, as a foreign implementer would."""
    v = parse_vectors(SPEC_PATH.read_text(), marker=marker)
    payload = bytes.fromhex(v["payload"])
    fields = msgpack.unpackb(payload)
    assert fields[1] == body.TYPE and fields[5] == timestamp_ms and fields[6] == nonce
    assert payload.endswith(bytes.fromhex(v["body"]))
    env = proto.Verifier().open(bytes.fromhex(v["envelope"]), now_ms=timestamp_ms)
    assert env.body == body


def render_vectors(values: dict[str, str]) -> str:
    width = max(len(k) for k in values)
    lines = []
    for key, value in values.items():
        chunks = textwrap.wrap(value, 64) or [""]
        lines.append(f"{key:<{width}}  {chunks[0]}")
        lines.extend(f"{'':<{width}}  {chunk}" for chunk in chunks[1:])
    return "\n".join(lines)


def parse_vectors(spec_text: str, marker: str = "vectors") -> dict[str, str]:
    """Read the block between the ``<marker>:begin``/``<marker>:end`` markers."""
    match = re.search(rf"<!-- {marker}:begin -->\s*```text\n(.*?)```\s*<!-- {marker}:end -->",
                      spec_text, re.S)
    if match is None:
        raise AssertionError("SPEC.md has no test-vector block")
    values: dict[str, str] = {}
    key = ""
    for line in match.group(1).splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            values[key] += line.strip()  # continuation of a wrapped value
        else:
            key, _, value = line.partition(" ")
            values[key] = value.strip()
    return values


def render_schema_table(cls: type[proto.Message]) -> str:
    """Markdown table of one schema, as printed in SPEC.md."""
    rows = ["| field | type | required / default | limits |", "|---|---|---|---|"]
    for f in cls.fields_info():
        need = "required" if f.required else f"default `{f.default!r}`"
        limits = f.limits.replace("|", "\\|") or "-"
        rows.append(f"| `{f.name}` | {f.type_name} | {need} | {limits} |")
    return "\n".join(rows)


def all_schema_classes() -> list[type[proto.Message]]:
    return [getattr(proto, name) for name in proto.__all__
            if isinstance(getattr(proto, name), type)
            and issubclass(getattr(proto, name), proto.Message)
            and getattr(proto, name) is not proto.Message]


if __name__ == "__main__":
    print(render_vectors(compute_vectors()))
    for schema in all_schema_classes():
        print(f"\n### {schema.__name__}" + (f" `{schema.TYPE}`" if schema.TYPE else ""))
        print(render_schema_table(schema))
