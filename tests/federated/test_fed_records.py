"""Record layout, metric aggregation, adoption rule and the Flower adapter."""

from __future__ import annotations

import flwr
import numpy as np
import pytest
from fed_testkit import heldout, schema, task
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from peermind.federated import (
    FeatureSchema,
    IncompatibleWeights,
    MalformedMessage,
    RouterModel,
    adopt_if_better,
    check_flower_compat,
    node_id_for_peer,
)
from peermind.federated._flower_compat import (
    ensure_instruction_identity,
    message_from_bytes,
    message_to_bytes,
    stamp_instruction,
)
from peermind.federated._records import (
    aggregate_router_metrics,
    router_from_arrayrecord,
    router_to_arrayrecord,
    schema_from_config,
    schema_to_config,
)
from peermind.federated._synthetic import sample_rows


def test_flower_adapter_still_works_with_installed_flower() -> None:
    """Fails loudly (FlowerIncompatible, naming the step) if a Flower upgrade breaks it."""
    assert flwr.__version__.startswith("1.42."), (
        f"peermind pins flwr==1.42.* but {flwr.__version__} is installed: re-verify "
        "federated/_flower_compat.py (TaskIdentity workaround) before moving the pin"
    )
    check_flower_compat()


def test_instruction_roundtrip_keeps_ids_and_content() -> None:
    ensure_instruction_identity()
    model = RouterModel(schema())
    content = RecordDict(
        {"arrays": router_to_arrayrecord(model), "config": ConfigRecord(schema_to_config(schema()))}
    )
    msg = Message(content, 1234, "train")
    stamp_instruction(msg, run_id=99, message_id="abc")
    back = message_from_bytes(message_to_bytes(msg))
    assert (back.metadata.run_id, back.metadata.message_id, back.metadata.dst_node_id) == (
        99,
        "abc",
        1234,
    )
    assert schema_from_config(back.content["config"]) == schema()
    rebuilt = router_from_arrayrecord(back.content["arrays"], schema())
    np.testing.assert_array_equal(rebuilt.to_arrays()[0], model.to_arrays()[0])


@pytest.mark.parametrize("payload", [b"", b"\x00\x01garbage\xff", "not bytes"])
def test_garbage_payload_is_malformed(payload: object) -> None:
    with pytest.raises(MalformedMessage):
        message_from_bytes(payload)  # type: ignore[arg-type]


def test_arrayrecord_with_wrong_names_or_shapes_is_incompatible() -> None:
    w, b = RouterModel(schema()).to_arrays()
    with pytest.raises(IncompatibleWeights):
        router_from_arrayrecord(ArrayRecord([w, b]), schema())  # keys "0", "1"
    bad = FeatureSchema(version=1, model_keys=("only-one",))
    with pytest.raises(IncompatibleWeights):
        router_from_arrayrecord(router_to_arrayrecord(RouterModel(schema())), bad)
    with pytest.raises(IncompatibleWeights, match="lacks"):
        schema_from_config(ConfigRecord({"schema-version": 1}))


def test_metric_aggregation_weights_each_rate_by_its_own_count() -> None:
    def reply(n: float, val_n: float, acc: float, choice_q: float, choice: float) -> RecordDict:
        return RecordDict(
            {
                "metrics": MetricRecord(
                    {
                        "num-examples": n,
                        "train-loss": 0.5,
                        "val-examples": val_n,
                        "val-accuracy": acc,
                        "val-choice-accuracy": choice,
                        "val-choice-queries": choice_q,
                    }
                )
            }
        )

    out = aggregate_router_metrics(
        [reply(100, 10, 1.0, 0, 0.0), reply(10, 30, 0.0, 4, 0.75)], "num-examples"
    )
    assert out["num-examples"] == 110  # counts are summed
    assert out["val-examples"] == 40
    assert out["val-accuracy"] == pytest.approx(10 / 40)  # by validation rows
    assert out["val-choice-accuracy"] == pytest.approx(0.75)  # node without queries ignored
    assert out["train-loss"] == pytest.approx(0.5)
    nothing = aggregate_router_metrics([reply(5, 0, 0.0, 0, 0.0)], "num-examples")
    assert "val-accuracy" not in nothing  # never divides by a zero total


def test_node_id_is_stable_63_bit_and_distinct() -> None:
    a, b = node_id_for_peer("QmPeerA"), node_id_for_peer("QmPeerB")
    assert a == node_id_for_peer("QmPeerA")
    assert a != b
    assert 2 <= a < 2**63 and 2 <= b < 2**63


def test_adopt_if_better() -> None:
    t = task()
    val = heldout(t, queries=100)
    current = RouterModel(schema())
    trained = RouterModel(schema())
    trained.fit(sample_rows(t, 200, np.random.default_rng(1)), epochs=20)

    model, adopted, metrics = adopt_if_better(current, trained, val)
    assert adopted and model is trained
    assert metrics["candidate"]["log_loss"] < metrics["current"]["log_loss"]

    model, adopted, _ = adopt_if_better(trained, current, val)
    assert not adopted and model is trained

    model, adopted, metrics = adopt_if_better(current, trained, [])
    assert not adopted and "validation rows" in metrics["reason"]
    _, adopted, _ = adopt_if_better(current, trained, [], adopt_unvalidated=True)
    assert adopted

    other = RouterModel(FeatureSchema(version=2, model_keys=schema().model_keys))
    with pytest.raises(IncompatibleWeights):
        adopt_if_better(current, other, val)
