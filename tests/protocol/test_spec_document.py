"""SPEC.md describes every message type exactly as the schemas enforce it."""

from __future__ import annotations

import re

from peermind.protocol import (
    ENVELOPE_DOMAIN,
    FL_PROTOCOL_ID,
    TASK_PROTOCOL_ID,
    ads_topic,
    message_types,
)
from protocol_testkit import SPEC_PATH, all_schema_classes, render_schema_table


def test_every_schema_table_is_in_the_spec() -> None:
    spec = SPEC_PATH.read_text()
    classes = all_schema_classes()
    assert set(message_types.values()) <= set(classes)
    for cls in classes:
        title = f"#### {cls.__name__}" + (f" `{cls.TYPE}`" if cls.TYPE else "")
        assert title in spec, f"SPEC.md lacks a section for {cls.__name__}"
        assert render_schema_table(cls) in spec, (
            f"SPEC.md table for {cls.__name__} is out of date: run "
            "`python tests/protocol/protocol_testkit.py` and paste the new table"
        )


def test_spec_names_protocol_ids_topic_and_domain() -> None:
    spec = SPEC_PATH.read_text()
    assert TASK_PROTOCOL_ID in spec and FL_PROTOCOL_ID in spec
    assert ads_topic("NET").replace("NET", "<network>") in spec
    assert ENVELOPE_DOMAIN.rstrip(b"\x00").decode() in spec


def test_spec_lists_every_error_of_the_verification_order() -> None:
    spec = SPEC_PATH.read_text()
    order = re.findall(r"`(\w+)`", spec.split("## 7.")[1].split("## 8.")[0])
    expected = ["FrameTooLarge", "MalformedEnvelope", "UnsupportedVersion", "UnknownMessageType",
                "InvalidPublicKey", "SenderKeyMismatch", "BadSignature", "PeerMismatch",
                "WrongRecipient", "StaleTimestamp", "ReplayedNonce", "SchemaError",
                "UnknownRequiredField"]
    positions = [order.index(name) for name in expected]
    assert positions == sorted(positions)
