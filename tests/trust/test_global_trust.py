"""EigenTrust: convergence, determinism, self-opinions, epochs, collusion bounds."""

from __future__ import annotations

import numpy as np
import pytest
from _trustpeers import pid
from peermind.trust import SELF, GlobalTrust, InvalidInput, TrustOpinion

HONEST = [pid(f"honest{i}") for i in range(5)]
COLLUDERS = [pid(f"colluder{i}") for i in range(5)]
ANCHOR = HONEST[0]


def _honest_web(gt: GlobalTrust, fooled: dict[str, float] | None = None) -> None:
    """Honest peers rate each other evenly; the colluders rate only themselves."""
    for h in HONEST:
        opinions = {other: 1.0 for other in HONEST if other != h}
        if fooled and h == HONEST[-1]:
            opinions.update(fooled)
        gt.update_opinion(h, 1, opinions)
    for c in COLLUDERS:
        ring = {other: 1.0 for other in COLLUDERS}  # includes itself: must be ignored
        gt.update_opinion(c, 1, {**ring, **{h: 0.0 for h in HONEST}})


def test_empty_input_is_safe() -> None:
    gt = GlobalTrust(set())
    assert gt.compute({}) == {}
    assert GlobalTrust({ANCHOR}).compute({}) == {ANCHOR: pytest.approx(1.0)}


def test_result_is_a_fixed_point_of_the_eigentrust_equation() -> None:
    gt = GlobalTrust({ANCHOR})
    _honest_web(gt)
    t = gt.compute({})
    order = sorted(t)
    idx = {p: i for i, p in enumerate(order)}
    n = len(order)
    c = np.zeros((n, n))
    p = np.zeros(n)
    p[idx[ANCHOR]] = 1.0
    for issuer in order:
        op = gt.opinion_of(issuer)
        if op is None or not op.opinions:
            c[idx[issuer]] = p
        else:
            for target, w in op.opinions.items():
                c[idx[issuer], idx[target]] = w
    vec = np.array([t[k] for k in order])
    expected = (1 - gt.alpha) * c.T @ vec + gt.alpha * p
    assert np.abs(expected - vec).sum() < 1e-8
    assert sum(t.values()) == pytest.approx(1.0)
    assert gt.iterations < gt.max_iters


def test_colluders_get_no_trust_when_anchors_do_not_trust_them() -> None:
    gt = GlobalTrust({ANCHOR})
    _honest_web(gt)
    t = gt.compute({})
    assert sum(t[c] for c in COLLUDERS) < 1e-9
    assert sum(t[h] for h in HONEST) == pytest.approx(1.0)

    # Without any anchor (uniform p over everyone) the closed ring keeps its headcount share.
    naive = GlobalTrust(set())
    _honest_web(naive)
    assert sum(naive.compute({})[c] for c in COLLUDERS) == pytest.approx(0.5, abs=1e-6)


def test_collusion_gain_is_bounded_by_the_inflow_from_a_fooled_peer() -> None:
    fooled_share = 0.2  # honest4 gives the ring 20% of its opinion mass
    gt = GlobalTrust({ANCHOR})
    _honest_web(gt, fooled={c: 0.04 for c in COLLUDERS} | {h: 0.2 for h in HONEST[:-1]})
    t = gt.compute({})
    ring = sum(t[c] for c in COLLUDERS)
    # A closed ring keeps (1 - a) of its mass each step: X = (1 - a) * (X + share * t_fooled).
    a = gt.alpha
    bound = (1 - a) * fooled_share * t[HONEST[-1]] / a
    assert 0 < ring <= bound + 1e-9
    assert ring < 0.25 and t[ANCHOR] > max(t[c] for c in COLLUDERS)


def test_opinions_of_an_untrusted_newcomer_weigh_nothing() -> None:
    newcomer, target = pid("newcomer"), pid("target")
    gt = GlobalTrust({ANCHOR})
    _honest_web(gt)
    gt.update_opinion(newcomer, 1, {target: 1.0})
    assert gt.compute({})[target] < 1e-9
    gt.update_opinion(ANCHOR, 2, {target: 1.0})
    assert gt.compute({})[target] > 0.1


def test_self_opinion_is_ignored() -> None:
    gt = GlobalTrust({ANCHOR})
    assert gt.update_opinion(HONEST[1], 1, {HONEST[1]: 1.0, HONEST[2]: 3.0})
    op = gt.opinion_of(HONEST[1])
    assert op is not None and op.opinions == {HONEST[2]: 1.0}
    gt.update_opinion(HONEST[3], 1, {HONEST[3]: 1.0})  # only itself: becomes empty
    assert gt.opinion_of(HONEST[3]) == TrustOpinion(HONEST[3], 1, {})
    assert gt.compute({}).get(HONEST[3], 0.0) == 0.0


def test_newer_epoch_replaces_older_and_stale_epochs_are_ignored() -> None:
    gt = GlobalTrust({ANCHOR})
    assert gt.update_opinion(ANCHOR, 5, {HONEST[1]: 1.0})
    assert not gt.update_opinion(ANCHOR, 5, {HONEST[2]: 1.0})
    assert not gt.update_opinion(ANCHOR, 4, {HONEST[2]: 1.0})
    assert gt.opinion_of(ANCHOR) == TrustOpinion(ANCHOR, 5, {HONEST[1]: 1.0})
    assert gt.ingest(TrustOpinion(ANCHOR, 6, {HONEST[2]: 2.0}))
    assert gt.opinion_of(ANCHOR) == TrustOpinion(ANCHOR, 6, {HONEST[2]: 1.0})
    gt.forget(ANCHOR)
    assert gt.opinion_of(ANCHOR) is None and gt.issuers() == []


def test_this_nodes_own_view_is_an_anchor_row() -> None:
    me, liked = pid("me"), pid("liked")
    gt = GlobalTrust(set(), self_id=me)
    t = gt.compute({liked: 1.0, me: 5.0})  # own entry about itself ignored
    assert set(t) == {me, liked}
    # liked has no opinions, so its mass returns to the anchor (me): t_me = a + (1-a) t_liked
    a = gt.alpha
    assert t[me] == pytest.approx(a / (1 - (1 - a) ** 2), abs=1e-8)
    assert t[liked] == pytest.approx((1 - a) * t[me], abs=1e-8)
    anonymous = GlobalTrust(set()).compute({liked: 1.0})
    assert SELF not in anonymous and anonymous[liked] == pytest.approx(t[liked], abs=1e-8)


def test_computation_is_deterministic_whatever_the_insertion_order() -> None:
    first, second = GlobalTrust({ANCHOR}), GlobalTrust({ANCHOR})
    _honest_web(first, fooled={COLLUDERS[0]: 0.3})
    for c in reversed(COLLUDERS):
        second.update_opinion(c, 1, {o: 1.0 for o in COLLUDERS})
    for h in reversed(HONEST):
        ops = {o: 1.0 for o in HONEST if o != h}
        if h == HONEST[-1]:
            ops[COLLUDERS[0]] = 0.3
        second.update_opinion(h, 1, ops)
    assert first.compute({HONEST[1]: 1.0}) == second.compute({HONEST[1]: 1.0})


@pytest.mark.parametrize(
    ("opinions", "message"),
    [
        ({HONEST[1]: -1.0}, ">= 0"),
        ({HONEST[1]: float("inf")}, "finite"),
        ({"bad id!": 1.0}, "base58"),
        ({pid(str(i)): 1.0 for i in range(11)}, "more than 10"),
    ],
)
def test_bad_opinions_raise_invalid_input(opinions: dict[str, float], message: str) -> None:
    gt = GlobalTrust({ANCHOR}, max_entries=10)
    with pytest.raises(InvalidInput, match=message):
        gt.update_opinion(HONEST[1], 1, opinions)
    assert gt.opinion_of(HONEST[1]) is None


def test_bad_configuration_and_epochs_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="alpha"):
        GlobalTrust({ANCHOR}, alpha=0.0)
    with pytest.raises(InvalidInput, match="pre-trusted"):
        GlobalTrust({"nope!"})
    with pytest.raises(InvalidInput, match="epoch"):
        GlobalTrust({ANCHOR}).update_opinion(ANCHOR, -1, {})
    with pytest.raises(InvalidInput, match="issuer"):
        TrustOpinion.from_dict({"issuer": "x y", "epoch": 1, "opinions": {}})
    op = TrustOpinion(ANCHOR, 3, {HONEST[1]: 1.0})
    assert TrustOpinion.from_dict(op.to_dict()) == op


def test_this_nodes_own_view_is_not_limited_by_max_entries() -> None:
    gt = GlobalTrust({ANCHOR}, max_entries=2)
    t = gt.compute({pid(str(i)): 1.0 for i in range(5)})
    assert len(t) == 6
