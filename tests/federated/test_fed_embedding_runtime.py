"""Which library runs MiniLM: onnxruntime when it can, torch otherwise, as configured."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from peermind.federated import EmbedderUnavailable, _embedding


@dataclass
class _Named:
    name: str


@dataclass
class FakeRuntimes:
    """Both runtimes replaced by recorders; the ONNX one fails when ``onnx_fails``."""

    onnx_fails: bool = False
    built: list[str] = field(default_factory=list)

    def onnx(self, num_threads: int | None) -> _Named:
        self.built.append("onnx")
        if self.onnx_fails:
            raise EmbedderUnavailable("exporting MiniLM to ONNX failed: no torch")
        return _Named("onnx")

    def torch(self, num_threads: int | None) -> _Named:
        self.built.append("torch")
        return _Named("torch")


@pytest.fixture
def runtimes(monkeypatch: pytest.MonkeyPatch) -> FakeRuntimes:
    fakes = FakeRuntimes()
    monkeypatch.setattr(_embedding, "_OnnxRuntime", fakes.onnx)
    monkeypatch.setattr(_embedding, "_TorchRuntime", fakes.torch)
    monkeypatch.delenv(_embedding.RUNTIME_ENV, raising=False)
    return fakes


def test_auto_prefers_onnx(runtimes: FakeRuntimes) -> None:
    assert _embedding._choose_runtime(1).name == "onnx"
    assert runtimes.built == ["onnx"]


def test_auto_falls_back_to_torch_when_onnx_is_unavailable(runtimes: FakeRuntimes) -> None:
    runtimes.onnx_fails = True
    assert _embedding._choose_runtime(1).name == "torch"
    assert runtimes.built == ["onnx", "torch"]


def test_forced_runtimes(runtimes: FakeRuntimes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_embedding.RUNTIME_ENV, "torch")
    assert _embedding._choose_runtime(1).name == "torch"
    assert runtimes.built == ["torch"]
    monkeypatch.setenv(_embedding.RUNTIME_ENV, "onnx")
    runtimes.onnx_fails = True
    with pytest.raises(EmbedderUnavailable, match="ONNX"):
        _embedding._choose_runtime(1)


def test_unknown_runtime_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_embedding.RUNTIME_ENV, "tensorflow")
    with pytest.raises(EmbedderUnavailable, match="PEERMIND_EMBEDDER"):
        _embedding._choose_runtime(1)
