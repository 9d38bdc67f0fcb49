"""Child process: export the packaged MiniLM to ONNX and prove it embeds as torch does.

Run as ``python -m peermind.federated._minilm_export OUT`` by ``_minilm_onnx.ensure_exported``
(torch and transformers are imported here, never in the process that asked). The graph is
written to a temporary file, checked against sentence-transformers on fixed texts (single
and padded batches, one longer than the 256-piece limit), and renamed to OUT only if every
vector matches within CHECK_ATOL. Exit 1 with one line on stderr otherwise.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np

CHECK_ATOL = 1e-5
CHECK_TEXTS = [
    "What is the boiling point of water at sea level?",
    "  Which of these is a source of light energy for plants?\nChoices: the Sun | the soil | the wind  ",
    "Who was the first president of the United States?",
    "x",
    "The river rises in the hills north of the town and runs south through farmland. " * 20,
]


def export(out: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    warnings.filterwarnings("ignore")
    import torch
    from sentence_transformers import SentenceTransformer

    from ._minilm_onnx import INPUTS, OnnxMiniLM, model_dir

    reference = SentenceTransformer(str(model_dir()), device="cpu")
    bert = reference[0].auto_model
    assert isinstance(bert, torch.nn.Module)
    bert.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    example = torch.tensor([[101, 2054, 2003, 102]])
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with torch.no_grad():
        torch.onnx.export(LastHiddenState(bert), (example, torch.ones_like(example), torch.zeros_like(example)),
                          str(tmp), input_names=list(INPUTS), output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    try:
        onnx = OnnxMiniLM(tmp)
        want = reference.encode(CHECK_TEXTS, convert_to_numpy=True, normalize_embeddings=True,
                                show_progress_bar=False)
        got_batch = onnx.encode(CHECK_TEXTS)
        got_single = np.stack([onnx.encode([t])[0] for t in CHECK_TEXTS])
        worst = float(max(np.abs(got_batch - want).max(), np.abs(got_single - want).max()))
        if worst > CHECK_ATOL:
            raise RuntimeError(f"ONNX vectors differ from torch by {worst:.2e} (> {CHECK_ATOL})")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python -m peermind.federated._minilm_export OUT.onnx", file=sys.stderr)
        return 2
    try:
        export(Path(sys.argv[1]))
    except Exception as exc:  # one line for the parent's error message
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
