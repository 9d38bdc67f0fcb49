"""RouterModel: learning, prediction contract, persistence and schema safety."""

from __future__ import annotations

import numpy as np
import pytest
from fed_testkit import MODEL_KEYS, heldout, schema, task
from peermind.federated import (
    FeatureSchema,
    FeedbackRow,
    IncompatibleWeights,
    InvalidEmbedding,
    InvalidFeedback,
    RouterFileError,
    RouterModel,
)
from peermind.federated._synthetic import sample_rows


def _train_rows(seed: int = 5, queries: int = 200) -> list[FeedbackRow]:
    return sample_rows(task(), queries, np.random.default_rng(seed))


def test_fit_improves_log_loss_and_accuracy_on_separable_data() -> None:
    model = RouterModel(schema())
    test_rows = heldout(task())
    before = model.evaluate(test_rows)
    fit = model.fit(_train_rows(), epochs=30, lr=2.0)
    after = model.evaluate(test_rows)
    assert fit["loss_after"] < fit["loss_before"] - 0.1
    assert after["log_loss"] < before["log_loss"] - 0.1
    assert after["accuracy"] > 0.8
    # each topic has one specialist model: routing to argmax p picks it
    assert after["choice_accuracy"] > 0.8
    assert after["choice_queries"] == 300


def test_fit_options_class_balance_and_minibatch_also_learn() -> None:
    rows = _train_rows()
    for kwargs in ({"class_balance": True}, {"batch_size": 32}):
        model = RouterModel(schema())
        fit = model.fit(rows, 10, 1.0, 1e-4, np.random.default_rng(0), **kwargs)
        assert fit["loss_after"] < fit["loss_before"]


def test_fit_is_deterministic_for_a_seed() -> None:
    rows = _train_rows()
    a, b = RouterModel(schema()), RouterModel(schema())
    a.fit(rows, 5, 1.0, 0.0, np.random.default_rng(3), batch_size=16)
    b.fit(rows, 5, 1.0, 0.0, np.random.default_rng(3), batch_size=16)
    for x, y in zip(a.to_arrays(), b.to_arrays(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_rows_for_unknown_models_are_skipped_not_fatal() -> None:
    rows = _train_rows(queries=20)
    rows.append(FeedbackRow(rows[0].embedding, "some-other-model", True))
    fit = RouterModel(schema()).fit(rows, epochs=1)
    assert fit["skipped_rows"] == 1
    assert fit["rows"] == 40


def test_predict_shapes_and_consistency() -> None:
    model = RouterModel(schema())
    model.fit(_train_rows(), epochs=10)
    emb = np.stack([r.embedding for r in _train_rows(seed=7, queries=5)[::2]])
    single = model.predict(emb[0], "smollm2")
    assert isinstance(single, float) and 0.0 < single < 1.0
    batch = model.predict(emb, "gemma3-270m")
    assert isinstance(batch, np.ndarray) and batch.shape == (5,)
    everything = model.predict_all(emb[0])
    assert list(everything) == list(MODEL_KEYS)
    assert everything["smollm2"] == pytest.approx(single)
    assert model.predict_all(emb)["gemma3-270m"] == pytest.approx(batch)


def test_unknown_model_gets_the_mean_of_known_heads() -> None:
    model = RouterModel(schema())
    assert model.predict(np.ones(384, np.float32) / 20, "never-seen") == pytest.approx(0.5)
    model.fit(_train_rows(), epochs=10)
    emb = _train_rows(seed=8, queries=1)[0].embedding
    known = model.predict_all(emb)
    assert model.predict(emb, "never-seen") == pytest.approx(np.mean(list(known.values())))


@pytest.mark.parametrize(
    "emb", [np.zeros(10), np.zeros((2, 3, 384)), np.full(384, np.nan), np.zeros((4, 100))]
)
def test_bad_embeddings_raise_typed_error(emb: np.ndarray) -> None:
    with pytest.raises(InvalidEmbedding):
        RouterModel(schema()).predict(emb, "smollm2")


def test_bad_feedback_raises_typed_error() -> None:
    with pytest.raises(InvalidFeedback):
        FeedbackRow(np.zeros((2, 2)), "smollm2", True)
    with pytest.raises(InvalidFeedback):
        FeedbackRow(np.zeros(384), "", True)
    with pytest.raises(InvalidFeedback):
        FeedbackRow(np.zeros(384), "smollm2", True, weight=-1)
    with pytest.raises(InvalidFeedback, match="expects"):
        RouterModel(schema()).fit([FeedbackRow(np.zeros(10), "smollm2", True)])
    with pytest.raises(InvalidFeedback):
        RouterModel(schema()).fit(_train_rows(queries=2), epochs=-1)


def test_choice_accuracy_by_hand() -> None:
    s = FeatureSchema(1, 2, ("a", "b"))
    model = RouterModel(s, weights=np.array([[5.0, 0.0], [0.0, 5.0]]), bias=np.zeros(2))
    x, y = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    rows = [
        FeedbackRow(x, "a", True, query_id="q1"),  # router picks a: right
        FeedbackRow(x, "b", False, query_id="q1"),
        FeedbackRow(y, "a", True, query_id="q2"),  # router picks b: wrong
        FeedbackRow(y, "b", False, query_id="q2"),
        FeedbackRow(y, "a", True, query_id="q3"),  # only one model observed: not counted
    ]
    metrics = model.evaluate(rows)
    assert metrics["choice_queries"] == 2
    assert metrics["choice_accuracy"] == pytest.approx(0.5)
    assert metrics["rows"] == 5
    empty = model.evaluate([])
    assert np.isnan(empty["log_loss"]) and empty["choice_queries"] == 0


def test_save_load_roundtrip(tmp_path) -> None:
    model = RouterModel(schema())
    model.fit(_train_rows(), epochs=5)
    path = tmp_path / "router.npz"
    model.save(path)
    loaded = RouterModel.load(path, expected=schema())
    assert loaded.schema == model.schema
    for a, b in zip(model.to_arrays(), loaded.to_arrays(), strict=True):
        np.testing.assert_array_equal(a, b)
    emb = _train_rows(seed=9, queries=1)[0].embedding
    assert loaded.predict_all(emb) == model.predict_all(emb)


@pytest.mark.parametrize(
    "other",
    [
        FeatureSchema(version=2, model_keys=MODEL_KEYS),
        FeatureSchema(version=1, model_keys=("gemma3-270m", "smollm2")),
        FeatureSchema(version=1, embed_dim=768, model_keys=MODEL_KEYS),
    ],
)
def test_load_refuses_incompatible_weights(tmp_path, other: FeatureSchema) -> None:
    path = tmp_path / "router.npz"
    RouterModel(other).save(path)
    with pytest.raises(IncompatibleWeights, match="expects"):
        RouterModel.load(path, expected=schema())


def test_damaged_files_raise_router_file_error(tmp_path) -> None:
    with pytest.raises(RouterFileError, match="does not exist"):
        RouterModel.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(RouterFileError):
        RouterModel.load(junk)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, header=np.frombuffer(b'{"format": "other"}', np.uint8))
    with pytest.raises(RouterFileError, match="not a peermind router"):
        RouterModel.load(foreign)


def test_from_arrays_checks_shapes_and_values() -> None:
    w, b = RouterModel(schema()).to_arrays()
    with pytest.raises(IncompatibleWeights):
        RouterModel.from_arrays([w[:1], b], schema())
    with pytest.raises(IncompatibleWeights):
        RouterModel.from_arrays([w], schema())
    w[0, 0] = np.inf
    with pytest.raises(IncompatibleWeights):
        RouterModel.from_arrays([w, b], schema())


def test_schema_validation() -> None:
    with pytest.raises(IncompatibleWeights):
        FeatureSchema(version=1, model_keys=())
    with pytest.raises(IncompatibleWeights):
        FeatureSchema(version=1, model_keys=("a", "a"))
    with pytest.raises(IncompatibleWeights):
        FeatureSchema(version=-1, model_keys=("a",))
