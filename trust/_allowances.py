"""Allowances derived from how often honest peers send, and the abuse tiers above them.

Rate limits that honest peers must never trip follow from their pace: ads are
republished every ``ad_republish_s`` (and on every load change, at most twice a second),
opinions every ``opinion_interval_s``. The derived allowances give a newcomer (a quarter
of the full allowance) room for that, with margin. Past the allowance a message is
refused or dropped; only past an abuse factor times it is the sender recorded as
flooding, so honest bursts and honest retries never turn into evidence.
"""

from __future__ import annotations

from ._params import TrustParams

__all__ = ["ABUSE_FACTOR", "REQUEST_ABUSE_FACTOR", "abuse_params", "gossip_allowances"]

ABUSE_FACTOR = 4.0
"""Ads and opinions over the allowance are dropped; only ABUSE_FACTOR x over it is flood evidence
(an honest node republishes on every load change, so bursts are normal)."""
REQUEST_ABUSE_FACTOR = 2.0
"""Task requests over the allowance are refused with ``retry_after_ms``; a requester that keeps
sending at REQUEST_ABUSE_FACTOR x its allowance is ignoring that, which is flood evidence. One that
honours it never gets there (apart from the few requests already in flight)."""


def gossip_allowances(*, ad_republish_s: float, opinion_interval_s: float) -> dict[str, float]:
    """``ad_rate/ad_burst/opinion_rate/opinion_burst`` for TrustParams, from the honest pace."""
    return {
        # Load changes republish up to 2/s; a newcomer gets a quarter of this.
        "ad_rate": max(8.0, 8.0 / ad_republish_s),
        "ad_burst": 20.0,
        "opinion_rate": 8.0 / opinion_interval_s,
        "opinion_burst": 4.0,
    }


def abuse_params(params: TrustParams) -> TrustParams:
    """The same parameters with the abuse tiers' allowances (requests, ads, opinions)."""
    data = params.to_dict()
    for kind, factor in (("request", REQUEST_ABUSE_FACTOR), ("ad", ABUSE_FACTOR), ("opinion", ABUSE_FACTOR)):
        data[f"{kind}_rate"] = getattr(params, f"{kind}_rate") * factor
        data[f"{kind}_burst"] = getattr(params, f"{kind}_burst") * factor
    return TrustParams.from_dict(data)
