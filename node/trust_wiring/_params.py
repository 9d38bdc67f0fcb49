"""TrustParams from the node's ``[trust]`` config section.

Rate limits that honest peers must never trip are derived from how often honest peers
send: ads are republished every ``ads.republish_s`` (and on every load change, at most
twice a second), opinions every ``trust.opinion_interval_s``. The derived allowances
give a newcomer (a quarter of the full allowance) room for that, with margin.
"""

from __future__ import annotations

from peermind.trust import Evidence, InvalidInput, TrustParams

from ..config import NodeConfig
from ..errors import ConfigError

__all__ = ["ABUSE_FACTOR", "REQUEST_ABUSE_FACTOR", "abuse_params", "trust_params"]

ABUSE_FACTOR = 4.0
"""Ads and opinions over the allowance are dropped; only ABUSE_FACTOR x over it is flood evidence
(an honest node republishes on every load change, so bursts are normal)."""
REQUEST_ABUSE_FACTOR = 2.0
"""Task requests over the allowance are refused with ``retry_after_ms``; a requester that keeps
sending at REQUEST_ABUSE_FACTOR x its allowance is ignoring that, which is flood evidence. One that
honours it never gets there (apart from the few requests already in flight)."""


def trust_params(config: NodeConfig) -> TrustParams:
    """The trust package's parameters for this node; ConfigError names a bad combination."""
    t = config.trust
    weights = {
        Evidence.ANSWER_WRONG: t.canary_wrong_weight,
        Evidence.ANSWER_RIGHT: t.canary_right_weight,
    }
    try:
        return TrustParams(
            weights=weights,
            half_life_s=t.half_life_s,
            ask_threshold=t.ask_threshold,
            ban_threshold=t.ban_threshold,
            trusted_threshold=t.trusted_threshold,
            ban_cooldown_s=t.ban_cooldown_s,
            canary_rate=t.canary_rate,
            request_rate=t.request_rate,
            request_burst=t.request_burst,
            # Load changes republish up to 2/s; a newcomer gets a quarter of this.
            ad_rate=max(8.0, 8.0 / config.ads.republish_s),
            ad_burst=20.0,
            opinion_rate=8.0 / t.opinion_interval_s,
            opinion_burst=4.0,
            pow_difficulty_bits=t.pow_difficulty_bits,
        )
    except InvalidInput as exc:
        raise ConfigError(f"invalid [trust] settings: {exc}") from None


def abuse_params(params: TrustParams) -> TrustParams:
    """The same parameters with the abuse tiers' allowances (requests, ads, opinions)."""
    data = params.to_dict()
    for kind, factor in (("request", REQUEST_ABUSE_FACTOR), ("ad", ABUSE_FACTOR), ("opinion", ABUSE_FACTOR)):
        data[f"{kind}_rate"] = getattr(params, f"{kind}_rate") * factor
        data[f"{kind}_burst"] = getattr(params, f"{kind}_burst") * factor
    return TrustParams.from_dict(data)
