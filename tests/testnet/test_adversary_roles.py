"""The adversaries' building blocks (no processes): what they change and that it is detectable."""

from __future__ import annotations

import pytest
from peermind.bench import normalized_choice
from peermind.node.collab.confidence import mc_confidence
from peermind.protocol import (
    BadSignature,
    CapabilityAd,
    ContinuationScore,
    ModelInfo,
    Signer,
    TaskRequest,
    Verifier,
    seal,
)
from peermind.testnet._adversary_answers import wrong_scores, wrong_text
from peermind.testnet._adversary_network import corrupt_signature
from peermind.testnet.adversary import ROLES, lure, role_class


def test_wrong_scores_pick_the_runner_up_with_near_certainty() -> None:
    honest = [ContinuationScore(logprob=lp, n_tokens=n) for lp, n in ((-4.0, 2), (-1.0, 1), (-9.0, 3), (-2.5, 1))]
    assert normalized_choice([(s.logprob, s.n_tokens) for s in honest]) == 1
    doctored = wrong_scores(honest)
    pairs = [(s.logprob, s.n_tokens) for s in doctored]
    assert normalized_choice(pairs) == 0  # the runner-up (-2.0 per token) now wins
    assert mc_confidence(pairs) > 0.8  # ... confidently


@pytest.mark.parametrize(
    ("text", "prompt", "expected"),
    [
        ("Paris", "Capital?\nOptions: Paris; Lyon; Nice\nAnswer with the correct option only.", "Lyon"),
        ("The answer is 42.", "What is 6 x 7?", "The answer is 43."),
        ("Yes, it is.", "Is water wet?", "No, it is."),
        ("Mount Everest", "Highest mountain?", "It is not Mount Everest"),
    ],
)
def test_wrong_text_is_a_plausible_different_answer(text: str, prompt: str, expected: str) -> None:
    assert wrong_text(text, prompt) == expected


def test_a_corrupted_signature_fails_verification() -> None:
    signer = Signer.generate()
    sealed = seal(signer, TaskRequest(task_id=b"\1" * 16, kind="generate", prompt="hi", deadline_ms=1), "x")
    with pytest.raises(BadSignature):
        Verifier().open(corrupt_signature(sealed))


def test_the_lure_claims_a_bigger_faster_model() -> None:
    ad = CapabilityAd(network="testnet-x", ttl_s=60, seq=1,
                      models=[ModelInfo(name="smollm2", params_m=135.0, gen_tps=50.0)])
    lured = lure(ad)
    assert lured.models[0].params_m == 135.0 * 50 and lured.models[0].gen_tps == 100.0
    assert lured.models[0].name == "smollm2"


def test_every_role_is_a_node_subclass() -> None:
    from peermind.node.extension import Node

    assert all(issubclass(role_class(r), Node) for r in ROLES)
    with pytest.raises(ValueError, match="unknown adversary role"):
        role_class("saboteur")
