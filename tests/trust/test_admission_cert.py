"""Networks with admitting peers: signed, expiring admissions bound to a member (pure logic)."""

from __future__ import annotations

import dataclasses

import pytest
from peermind.protocol import CapabilityAd, NotMember, Signer
from peermind.trust import (
    InvalidInput,
    MembershipRules,
    admission_from_text,
    admission_to_text,
    issue_admission,
)

NOW = 1_800_000_000


def _rules(*admitters: Signer, network: str = "guild") -> MembershipRules:
    rules = MembershipRules.build(network, 4, None, tuple(a.peer_id_b58 for a in admitters))
    return dataclasses.replace(rules, now=lambda: float(NOW))


def _ad(rules: MembershipRules, peer: str, admission: bytes | None) -> CapabilityAd:
    return CapabilityAd(network=rules.network, ttl_s=60, seq=1, pow_nonce=rules.pow.solve(peer), admission=admission)


def test_a_member_with_an_admission_from_an_admitter_is_admitted_and_others_are_not_members() -> None:
    admitter, member, outsider = Signer.generate(), Signer.generate(), Signer.generate()
    rules = _rules(admitter)
    assert rules.private
    admission = issue_admission(admitter, "guild", member.peer_id_b58, NOW + 3600)
    assert rules.judge_ad(member.peer_id_b58, _ad(rules, member.peer_id_b58, admission)) is None
    # the admitter itself needs no admission
    assert rules.judge_ad(admitter.peer_id_b58, _ad(rules, admitter.peer_id_b58, None)) is None
    # no admission, or the member's admission copied from its gossiped ad: not a member
    assert isinstance(rules.judge_ad(outsider.peer_id_b58, _ad(rules, outsider.peer_id_b58, None)), NotMember)
    copied = rules.judge_ad(outsider.peer_id_b58, _ad(rules, outsider.peer_id_b58, admission))
    assert isinstance(copied, NotMember) and "does not verify" in str(copied)


def test_admissions_from_non_admitters_for_other_networks_expired_or_damaged_are_refused() -> None:
    admitter, member, stranger = Signer.generate(), Signer.generate(), Signer.generate()
    rules = _rules(admitter)
    peer = member.peer_id_b58
    cases = {
        "not an admitting peer": issue_admission(stranger, "guild", peer, NOW + 3600),
        "does not verify": issue_admission(admitter, "other-guild", peer, NOW + 3600),
        "expired": issue_admission(admitter, "guild", peer, NOW - 1),
        "malformed": b"pma1" + b"\0" * 10,
    }
    for expected, admission in cases.items():
        problem = rules.judge_ad(peer, _ad(rules, peer, admission))
        assert isinstance(problem, NotMember) and expected in str(problem), (expected, problem)
    flipped = bytearray(issue_admission(admitter, "guild", peer, NOW + 3600))
    flipped[-1] ^= 1
    assert isinstance(rules.judge_ad(peer, _ad(rules, peer, bytes(flipped))), NotMember)


def test_an_admission_travels_as_text_and_damaged_text_is_a_typed_error() -> None:
    admitter = Signer.generate()
    data = issue_admission(admitter, "guild", Signer.generate().peer_id_b58, NOW)
    text = admission_to_text(data)
    assert text.startswith("pma1.") and admission_from_text(text) == data
    for bad in ("pmi2.abc", "pma1.!!!", "pma1." + text[5:20]):
        with pytest.raises(InvalidInput):
            admission_from_text(bad)
    with pytest.raises(InvalidInput):
        issue_admission(admitter, "guild", "12D3KooWx", 0)
