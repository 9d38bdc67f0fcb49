"""TrustParams from the node's ``[trust]`` config section (the policy behind them lives in trust/)."""

from __future__ import annotations

from peermind.trust import Evidence, InvalidInput, TrustParams, gossip_allowances

from ..config import NodeConfig
from ..errors import ConfigError

__all__ = ["trust_params"]


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
            work_rate=t.work_rate,
            work_burst=t.work_burst,
            conduct_tolerance=t.conduct_tolerance,
            pow_difficulty_bits=t.pow_difficulty_bits,
            **gossip_allowances(ad_republish_s=config.ads.republish_s, opinion_interval_s=t.opinion_interval_s),
        )
    except InvalidInput as exc:
        raise ConfigError(f"invalid [trust] settings: {exc}") from None
