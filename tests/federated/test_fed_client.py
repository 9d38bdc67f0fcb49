"""FederatedClient + ClientApp: what a node sends back, and how it refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest
from fed_testkit import schema, task
from flwr.app import ConfigRecord, Message, RecordDict
from peermind.federated import (
    FederatedClient,
    InvalidTrainingConfig,
    LocalDp,
    MalformedMessage,
    RouterModel,
    make_client_app,
)
from peermind.federated._flower_compat import (
    ensure_instruction_identity,
    message_from_bytes,
    message_to_bytes,
    stamp_instruction,
)
from peermind.federated._records import (
    router_from_arrayrecord,
    router_to_arrayrecord,
    schema_to_config,
)
from peermind.federated._synthetic import node_datasets

NODE = 123_456


def _rows():
    return node_datasets(task(), 1, queries_per_node=40)[0]


def _instruction(
    message_type: str = "train", dst: int = NODE, extra: dict | None = None
) -> tuple[bytes, RouterModel]:
    ensure_instruction_identity()
    model = RouterModel(schema())
    config = ConfigRecord({**schema_to_config(schema()), "server-round": 1, **(extra or {})})
    msg = Message(
        RecordDict({"arrays": router_to_arrayrecord(model), "config": config}), dst, message_type
    )
    stamp_instruction(msg, run_id=5, message_id="m-1")
    return message_to_bytes(msg), model


def _client(provider=None, **kwargs) -> FederatedClient:
    rows = _rows()
    return FederatedClient(make_client_app(provider or (lambda: rows), **kwargs), node_id=NODE)


def test_train_reply_contains_only_weights_and_metrics() -> None:
    payload, sent = _instruction()
    reply = message_from_bytes(_client().handle(payload))
    assert not reply.has_error()
    assert reply.metadata.reply_to_message_id == "m-1"
    assert reply.metadata.src_node_id == NODE
    content = reply.content
    assert set(content.keys()) == {"arrays", "metrics"}
    assert set(content.array_records) == {"arrays"} and set(content.metric_records) == {"metrics"}
    assert not content.config_records
    assert list(content["arrays"].keys()) == ["weights", "bias"]
    assert set(content["metrics"].keys()) == {
        "num-examples",
        "train-loss",
        "val-examples",
        "val-log-loss",
        "val-accuracy",
        "val-choice-accuracy",
        "val-choice-queries",
    }
    assert content["metrics"]["num-examples"] == 60  # 30 training queries x 2 models
    trained = router_from_arrayrecord(content["arrays"], schema())
    assert not np.allclose(trained.to_arrays()[0], sent.to_arrays()[0])


def test_evaluate_reply_has_metrics_only() -> None:
    payload, _ = _instruction("evaluate")
    reply = message_from_bytes(_client().handle(payload))
    assert set(reply.content.keys()) == {"metrics"}
    metrics = reply.content["metrics"]
    assert metrics["num-examples"] == 20
    assert 0 < metrics["log-loss"] == pytest.approx(np.log(2), rel=1e-3)  # untrained: p = 0.5


def test_one_persistent_context_across_messages() -> None:
    client = _client()
    ctx = client.context
    client.handle(_instruction()[0])
    client.handle(_instruction("evaluate")[0])
    assert client.context is ctx and ctx.run_id == 5


def test_failures_become_error_replies_not_exceptions() -> None:
    payload, _ = _instruction()
    # addressed to another node
    other = FederatedClient(make_client_app(_rows), node_id=NODE + 1)
    assert "addressed to node" in message_from_bytes(other.handle(payload)).error.reason
    # no local rows
    empty = _client(lambda: ([], []))
    assert "no local feedback rows" in message_from_bytes(empty.handle(payload)).error.reason

    # the node's row store raising
    def broken():
        raise RuntimeError("disk on fire")

    reason = message_from_bytes(_client(broken).handle(payload)).error.reason
    assert "RuntimeError" in reason and "disk on fire" in reason
    # schema the node cannot build
    bad, _ = _instruction(extra={"embed-dim": 10})
    assert "IncompatibleWeights" in message_from_bytes(_client().handle(bad)).error.reason
    # an action the app does not implement
    query, _ = _instruction("query")
    assert message_from_bytes(_client().handle(query)).has_error()


def test_non_instructions_raise_malformed() -> None:
    client = _client()
    with pytest.raises(MalformedMessage):
        client.handle(b"\x08\x01junk")
    payload, _ = _instruction()
    reply = client.handle(payload)
    with pytest.raises(MalformedMessage, match="instruction"):
        client.handle(reply)  # a reply is not an instruction


def test_local_dp_mod_changes_the_update() -> None:
    payload, sent = _instruction()
    plain = message_from_bytes(_client().handle(payload)).content["arrays"]
    dp = message_from_bytes(
        _client(
            local_dp=LocalDp(clipping_norm=0.5, sensitivity=0.5, epsilon=5.0, delta=1e-5)
        ).handle(payload)
    ).content["arrays"]
    assert not np.allclose(plain["weights"].numpy(), dp["weights"].numpy())


def test_fixed_clipping_mod_bounds_the_update_norm() -> None:
    payload, sent = _instruction(extra={"clipping_norm": 0.01})
    reply = message_from_bytes(_client(fixed_clipping=True).handle(payload))
    arrays = reply.content["arrays"]
    delta = np.concatenate(
        [
            (arrays[k].numpy() - a).ravel()
            for k, a in zip(["weights", "bias"], sent.to_arrays(), strict=True)
        ]
    )
    assert np.linalg.norm(delta) <= 0.01 + 1e-6
    # without the server's clipping_norm the mod refuses, as an error reply
    unclipped, _ = _instruction()
    assert message_from_bytes(_client(fixed_clipping=True).handle(unclipped)).has_error()


def test_invalid_client_settings_raise_typed_errors() -> None:
    with pytest.raises(InvalidTrainingConfig):
        make_client_app(
            _rows, local_dp=LocalDp(clipping_norm=-1, sensitivity=1, epsilon=1, delta=0.1)
        )
    with pytest.raises(InvalidTrainingConfig):
        FederatedClient(make_client_app(_rows), node_id=1)
