"""The real MiniLM embedder (from its package, offline) and a router trained on its output."""

from __future__ import annotations

import numpy as np
import pytest
from peermind.federated import (
    FeatureSchema,
    FederatedClient,
    FeedbackRow,
    InProcessTransport,
    InvalidEmbedding,
    RouterModel,
    make_client_app,
    run_training,
)
from peermind.federated._embedding import Embedder

pytestmark = pytest.mark.integration

SCIENCE = [
    "What is the boiling point of water at sea level?",
    "Why do plants need sunlight to grow?",
    "What gas do humans exhale when they breathe?",
    "How many planets orbit the Sun?",
    "What force keeps the Moon in orbit around the Earth?",
    "Which organ pumps blood through the human body?",
    "What is the chemical symbol for gold?",
    "Why does ice float on liquid water?",
    "What particle carries a negative electric charge?",
    "How do vaccines train the immune system?",
]
HISTORY = [
    "Who was the first president of the United States?",
    "In which year did the Second World War end?",
    "Which empire built the Colosseum in Rome?",
    "Who wrote the Declaration of Independence?",
    "When did the Berlin Wall fall?",
    "Which pharaoh's tomb was discovered by Howard Carter?",
    "Who was the emperor of France in 1805?",
    "What ancient city was destroyed by Mount Vesuvius?",
    "Which country did Genghis Khan found an empire in?",
    "When was the Magna Carta signed?",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(num_threads=1)


@pytest.fixture(scope="module")
def vectors(embedder: Embedder) -> np.ndarray:
    return embedder.encode(SCIENCE + HISTORY)


def test_encode_shape_norm_and_semantics(embedder: Embedder, vectors: np.ndarray) -> None:
    assert vectors.shape == (20, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    sims = vectors @ vectors.T
    within = (sims[:10, :10].sum() - 10) / 90 + (sims[10:, 10:].sum() - 10) / 90
    across = sims[:10, 10:].mean() * 2
    assert within > across + 0.05  # topics cluster
    assert embedder.encode([]).shape == (0, 384)


def test_encode_one_matches_batch_and_caches(embedder: Embedder, vectors: np.ndarray) -> None:
    one = embedder.encode_one(SCIENCE[0])
    assert one.shape == (384,)
    assert np.allclose(one, vectors[0], atol=1e-5)
    assert embedder.encode_one(SCIENCE[0]) is one  # LRU hit
    assert not one.flags.writeable
    with pytest.raises(InvalidEmbedding):
        embedder.encode_one(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidEmbedding):
        embedder.encode("a string, not a list")  # type: ignore[arg-type]


def _rows(vectors: np.ndarray, indices: range) -> list[FeedbackRow]:
    """smollm2 answers science right and history wrong; gemma the reverse."""
    rows = []
    for i in indices:
        science = i < 10
        rows.append(FeedbackRow(vectors[i], "smollm2", science, query_id=f"q{i}"))
        rows.append(FeedbackRow(vectors[i], "gemma3-270m", not science, query_id=f"q{i}"))
    return rows


def test_router_on_real_embeddings_routes_by_topic(embedder: Embedder, vectors: np.ndarray) -> None:
    schema = FeatureSchema(version=1, model_keys=("smollm2", "gemma3-270m"))
    train = _rows(vectors, range(0, 20, 2)) + _rows(vectors, range(1, 20, 4))
    model = RouterModel(schema)
    model.fit(train, epochs=100, lr=5.0)
    probe = embedder.encode(["What is the speed of light in a vacuum?", "Who was Julius Caesar?"])
    science, history = model.predict_all(probe[0]), model.predict_all(probe[1])
    assert science["smollm2"] > science["gemma3-270m"]
    assert history["gemma3-270m"] > history["smollm2"]


def test_federated_round_on_real_embeddings(vectors: np.ndarray) -> None:
    """Three nodes, each holding a slice of the real-embedding feedback."""
    schema = FeatureSchema(version=1, model_keys=("smollm2", "gemma3-270m"))
    slices = [range(0, 20, 3), range(1, 20, 3), range(2, 20, 3)]
    clients = {}
    for n, idx in enumerate(slices):
        rows = _rows(vectors, idx)
        app = make_client_app(lambda r=rows: (r, r))
        clients[f"peer-{n}"] = FederatedClient.for_peer(app, f"peer-{n}")
    initial = RouterModel(schema)
    report = run_training(
        InProcessTransport(clients), rounds=2, min_nodes=3, initial=initial, local_epochs=50, lr=5.0
    )
    all_rows = _rows(vectors, range(20))
    assert report.model().evaluate(all_rows)["choice_accuracy"] >= 0.9
    assert report.model().evaluate(all_rows)["log_loss"] < initial.evaluate(all_rows)["log_loss"]


def test_onnx_runtime_gives_torchs_vectors_and_token_counts() -> None:
    """Rows stored and heads trained on torch vectors stay valid under onnxruntime."""
    from peermind.federated._embedding import _OnnxRuntime, _TorchRuntime

    texts = SCIENCE + HISTORY + ["  padded with spaces  ", "x", "a long document. " * 200]
    onnx, torch = _OnnxRuntime(num_threads=1), _TorchRuntime(num_threads=1)
    assert np.abs(onnx.encode(texts) - torch.encode(texts)).max() < 1e-5
    assert np.abs(onnx.encode(texts[:1])[0] - torch.encode(texts)[0]).max() < 1e-5
    assert onnx.token_counts(texts) == torch.token_counts(texts)
    assert onnx.max_seq_length == torch.max_seq_length == 256


def test_runtime_comparison_reports_paired_times_and_the_vector_difference() -> None:
    from peermind.federated.benchmark import compare_embedding_runtimes

    out = compare_embedding_runtimes(SCIENCE[:4], draws=50)
    assert out["n"] == 4 and out["max_abs_diff"] < 1e-5
    assert out["onnx_ms_p50"] > 0 and out["torch_ms_p50"] > 0
    low, high = out["ratio_p50_ci95"]
    assert 0 < low <= out["ratio_p50"] <= high
