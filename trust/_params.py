"""Every tunable number of the trust package, in one validated dataclass.

The defaults were chosen with the simulations in ``tests/trust`` (see
trust/README.md): an honest peer with 10% timeouts/busy refusals stays askable,
a peer that always answers wrong drops below the ask threshold within 50
queries when 1 query in 5 is a canary, and a forger is dropped after one bad
signature and banned after three.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._errors import InvalidInput
from ._evidence import Evidence, EvidenceRecord, ViolationKind

__all__ = ["DEFAULT_VIOLATION_WEIGHTS", "DEFAULT_WEIGHTS", "TrustParams"]

# Weight of one piece of evidence, in "pseudo-observations" of the Beta
# reputation. Positive adds to the good mass, negative to the bad mass.
DEFAULT_WEIGHTS: Mapping[Evidence, float] = MappingProxyType(
    {
        # Liveness is cheap to fake (answer fast with garbage): worth little.
        Evidence.TASK_OK: 0.05,
        Evidence.TASK_LATE: -0.2,
        Evidence.TIMEOUT: -0.5,
        # Honest back-pressure from a loaded peer must not sink it.
        Evidence.REFUSAL_BUSY: -0.05,
        Evidence.REFUSAL_OTHER: -0.2,
        # Fallback for violation sub-kinds missing from DEFAULT_VIOLATION_WEIGHTS.
        Evidence.PROTOCOL_VIOLATION: -4.0,
        # A canary is the only evidence of correctness this node can verify alone.
        Evidence.ANSWER_WRONG: -5.0,
        Evidence.ANSWER_RIGHT: 1.0,
        # Needs a third source to side with the other peer (see cross_check).
        Evidence.CROSS_CHECK_DISAGREE: -3.0,
        # Agreement can be collusion: weak.
        Evidence.CROSS_CHECK_AGREE: 0.3,
        Evidence.UPDATE_OUTLIER: -1.5,
        Evidence.UPDATE_OK: 0.2,
        # Recorded only past twice the allowance, i.e. while ignoring retry_after: deliberate.
        Evidence.FLOOD: -2.0,
        Evidence.CONFIDENCE_MISCALIBRATED: -1.5,
    }
)

DEFAULT_VIOLATION_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        # Noise already authenticates the transport: a bad signature is forgery.
        ViolationKind.BAD_SIGNATURE.value: -8.0,
        ViolationKind.REPLAY.value: -4.0,
        # May be version skew rather than malice.
        ViolationKind.SCHEMA.value: -3.0,
        ViolationKind.OVERSIZE.value: -3.0,
    }
)

DAY_S = 86_400.0


@dataclass(frozen=True)
class TrustParams:
    """Weights, decay, thresholds, priors, caps and limits (all validated on creation).

    Reputation: score = (prior_alpha + P) / (prior_alpha + prior_beta + P + N),
    where P and N are the positive and negative evidence masses, each decaying
    with ``half_life_s``. A newcomer scores prior_alpha / (prior_alpha + prior_beta)
    (0.30 by default), above ``ask_threshold`` so it gets a chance, far below
    ``trusted_threshold`` so a fresh identity is never trusted.
    """

    weights: Mapping[Evidence, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    """Default weight per evidence kind; a partial mapping is completed from DEFAULT_WEIGHTS."""
    violation_weights: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_VIOLATION_WEIGHTS)
    )
    """Weight per protocol-violation sub-kind (unknown sub-kinds use weights[protocol_violation])."""
    half_life_s: float = 3 * DAY_S
    """Evidence loses half its mass every half_life_s: old sins fade, old merit too."""
    prior_alpha: float = 1.5
    prior_beta: float = 3.5
    """Newcomer prior: mean 0.30 with the weight of 5 observations."""
    ask_threshold: float = 0.12
    """Below this score the peer is do_not_ask."""
    ban_threshold: float = 0.06
    """Falling below this on new negative evidence bans (disconnects) the peer for a cool-down."""
    trusted_threshold: float = 0.7
    """At or above this (after probation) the peer is trusted."""
    probation_interactions: int = 10
    """A peer with fewer recorded interactions than this is on probation."""
    ban_cooldown_s: float = 3600.0
    """First ban length; each further ban doubles it, up to max_ban_s."""
    max_ban_s: float = 7 * DAY_S
    max_evidence_mass: float = 40.0
    """Evidence memory: when P + N exceeds this, both shrink proportionally. The score then
    reflects recent behaviour, and a long good record cannot be banked to absorb later abuse."""
    max_event_weight: float = 20.0
    """|weight| of any single record (including overrides) is clamped to this."""
    recent_events: int = 10
    """How many latest records per peer explain() shows and snapshots keep."""
    canary_reject_llr: float = 3.5
    """Canary test (see _sprt.py): a sum of -canary_reject_llr takes a newcomer exactly to
    ask_threshold. An honest peer at its model's expected accuracy ever gets there with
    probability <= exp(-3.5) = 3% (Wald's bound; 0-4% in tests/trust/test_canary_sprt.py,
    most for weak models), and gets back with a right answer or two (idle probes keep
    asking it); a liar at 0% on a model this node serves gets there in ~5 canaries."""
    canary_accept_llr: float = 3.0
    """A sum of +canary_accept_llr takes a newcomer exactly to trusted_threshold."""
    canary_llr_min: float = -5.0
    canary_llr_max: float = 5.0
    """The canary test sum is clamped to [min, max]: a bounded memory, so a long honest
    record cannot be banked against later lies (from max, ~15 wrong answers of a 50% model
    make it do_not_ask). At min a newcomer scores 0.077, above ban_threshold: canary
    verdicts are statistics, not proof, so alone they exclude (reversibly) but never ban;
    a liar's other evidence (overconfidence, cross-checks) still can."""
    canary_dishonest_share: float = 0.25
    """The dishonest hypothesis: right on this share of what the model should get right."""
    canary_rate: float = 0.1
    """Suggested share of queries that are canaries (CanaryPolicy takes its own rate)."""
    calibration_high_confidence: float = 0.8
    """Advertised confidence at or above this counts as a high-confidence claim."""
    calibration_min_samples: int = 5
    calibration_window: int = 20
    calibration_max_gap: float = 0.3
    """Flag when mean claimed confidence exceeds accuracy by more than this."""
    request_rate: float = 1.0
    request_burst: float = 10.0
    ad_rate: float = 0.1
    ad_burst: float = 3.0
    opinion_rate: float = 1 / 60
    opinion_burst: float = 2.0
    """Full (trusted) allowances in events per second and bucket size."""
    work_rate: float = 100.0
    work_burst: float = 1200.0
    """Full (trusted) work allowance: prompt + generated tokens per second, and bucket size. A
    task costs its prompt tokens plus the tokens it may generate (refunded down to what it
    really used); a newcomer's burst (a quarter) still fits one prompt with a 256-token answer."""
    conduct_tolerance: float = 4.0
    """Requests sent while told to wait (``retry_after``) that halve a peer's requester allowance."""
    conduct_half_life_s: float = 600.0
    """Ignored refusals are forgiven with this half-life."""
    newcomer_limit_factor: float = 0.25
    """Share of the full allowance a newcomer gets; grows linearly to 1 at trusted_threshold."""
    max_tracked_peers: int = 10_000
    """Rate-limit buckets and canary memories kept (least recently used are dropped)."""
    pow_difficulty_bits: int = 20
    """Leading zero bits required of an identity's proof of work (0 disables). 2**20 hashes:
    ~0.5 s once per identity in Python here; far less for an attacker with native code."""
    gossip_trusted: float = 1.0
    gossip_do_not_ask: float = -10.0
    gossip_banned: float = -100.0
    """App-specific gossipsub score per standing (ok and probation get 0)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", MappingProxyType(self._complete_weights()))
        object.__setattr__(
            self, "violation_weights", MappingProxyType(self._checked_violation_weights())
        )
        self._check_numbers()

    # -- derived values ----------------------------------------------------------------
    @property
    def prior_mean(self) -> float:
        """The score of a peer with no evidence (or whose evidence has fully decayed)."""
        return self.prior_alpha / (self.prior_alpha + self.prior_beta)

    def weight_of(self, record: EvidenceRecord) -> float:
        """The signed weight ``record`` carries, clamped to +-max_event_weight."""
        if record.weight_override is not None:
            weight = record.weight_override
        elif record.kind is Evidence.PROTOCOL_VIOLATION:
            weight = self.violation_weights.get(
                record.subkind, self.weights[Evidence.PROTOCOL_VIOLATION]
            )
        else:
            weight = self.weights[record.kind]
        cap = self.max_event_weight
        return max(-cap, min(cap, weight))

    @property
    def llr_bounds(self) -> tuple[float, float]:
        return self.canary_llr_min, self.canary_llr_max

    def llr_shift(self, llr: float) -> float:
        """How far (in log-odds of the score) a canary test sum moves a peer's score.

        Piecewise linear: -canary_reject_llr shifts the newcomer prior to ask_threshold,
        +canary_accept_llr shifts it to trusted_threshold.
        """
        prior = _logit(self.prior_mean)
        if llr < 0:
            return llr * (prior - _logit(self.ask_threshold)) / self.canary_reject_llr
        return llr * (_logit(self.trusted_threshold) - prior) / self.canary_accept_llr

    # -- (de)serialisation for the node's config file ----------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (weights keyed by kind string) suitable for TOML/JSON."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = {str(k): v for k, v in value.items()}
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrustParams:
        """Build from a (partial) mapping; unknown keys raise InvalidInput naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidInput(
                f"unknown trust parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise InvalidInput(f"bad trust parameters: {exc}") from None

    # -- validation ---------------------------------------------------------------------
    def _complete_weights(self) -> dict[Evidence, float]:
        if not isinstance(self.weights, Mapping):
            raise InvalidInput("weights must be a mapping of evidence kind to number")
        merged = dict(DEFAULT_WEIGHTS)
        for key, value in self.weights.items():
            try:
                kind = Evidence(key)
            except ValueError:
                raise InvalidInput(f"weights: unknown evidence kind {key!r}") from None
            merged[kind] = _number(value, f"weights[{kind.value}]")
        return merged

    def _checked_violation_weights(self) -> dict[str, float]:
        if not isinstance(self.violation_weights, Mapping):
            raise InvalidInput("violation_weights must be a mapping of sub-kind to number")
        return {
            str(k): _number(v, f"violation_weights[{k}]") for k, v in self.violation_weights.items()
        }

    def _check_numbers(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("gossip_") or f.name == "canary_llr_min":
                _number(value, f.name)
            elif not isinstance(value, Mapping):
                _number(value, f.name, minimum=0.0)
        positive = (
            "half_life_s", "prior_alpha", "prior_beta", "max_evidence_mass", "max_event_weight",
            "request_rate", "ad_rate", "opinion_rate", "work_rate", "calibration_window",
            "conduct_tolerance", "conduct_half_life_s",
            "calibration_min_samples", "max_tracked_peers",
        )  # fmt: skip
        for name in positive:
            if getattr(self, name) <= 0:
                raise InvalidInput(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("request_burst", "ad_burst", "opinion_burst", "work_burst"):
            if getattr(self, name) < 1:
                raise InvalidInput(
                    f"{name} must be >= 1 (one event must fit), got {getattr(self, name)}"
                )
        integers = (
            "probation_interactions", "recent_events", "calibration_min_samples",
            "calibration_window", "max_tracked_peers", "pow_difficulty_bits",
        )  # fmt: skip
        for name in integers:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"{name} must be an integer, got {value!r}")
        if self.pow_difficulty_bits > 64:
            raise InvalidInput(f"pow_difficulty_bits must be 0..64, got {self.pow_difficulty_bits}")
        if not 0 < self.ban_threshold <= self.ask_threshold < self.trusted_threshold < 1:
            raise InvalidInput(
                "thresholds must satisfy 0 < ban_threshold <= ask_threshold < trusted_threshold < 1, "
                f"got {self.ban_threshold}, {self.ask_threshold}, {self.trusted_threshold}"
            )
        if not self.ask_threshold < self.prior_mean < self.trusted_threshold:
            raise InvalidInput(
                f"the newcomer prior mean {self.prior_mean:.3f} must lie between ask_threshold "
                f"({self.ask_threshold}) and trusted_threshold ({self.trusted_threshold}): "
                "otherwise newcomers are never asked, or start trusted"
            )
        for name in ("canary_rate", "calibration_high_confidence", "calibration_max_gap",
                     "newcomer_limit_factor"):  # fmt: skip
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidInput(f"{name} must be within [0, 1], got {getattr(self, name)}")
        floor = self.prior_alpha / (self.prior_alpha + self.prior_beta + self.max_evidence_mass)
        if floor >= self.ban_threshold:
            raise InvalidInput(
                f"with max_evidence_mass={self.max_evidence_mass} no score can fall below "
                f"{floor:.3f}, so ban_threshold={self.ban_threshold} is unreachable; raise "
                "max_evidence_mass or ban_threshold"
            )
        if not 0 < self.canary_dishonest_share < 1:
            raise InvalidInput(
                f"canary_dishonest_share must be within (0, 1), got {self.canary_dishonest_share}"
            )
        if self.canary_reject_llr <= 0 or self.canary_accept_llr <= 0:
            raise InvalidInput("canary_reject_llr and canary_accept_llr must be > 0")
        if not self.canary_llr_min <= -self.canary_reject_llr or not self.canary_llr_max >= self.canary_accept_llr:
            raise InvalidInput(
                "need canary_llr_min <= -canary_reject_llr and canary_llr_max >= canary_accept_llr, "
                "or the canary test can never exclude or trust a peer"
            )
        if self.ban_cooldown_s > self.max_ban_s:
            raise InvalidInput("ban_cooldown_s must not exceed max_ban_s")


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _number(value: object, name: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{name} must be >= {minimum}, got {value}")
    return float(value)
