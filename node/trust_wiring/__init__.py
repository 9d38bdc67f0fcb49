"""The node's trust wiring: reputation from evidence, acted on everywhere peers are chosen.

``TrustWiring`` (held by the daemon as ``node.trust``) persists a ``peermind.trust``
ReputationBook in the node's store, gates inbound tasks and gossip (bans, rate limits,
proof of work), verifies peers with canaries (judged against what each peer's own model
should score, learned from the network) and cross-checks beside real questions, gossips
opinions for EigenTrust global trust (read where local evidence is thin) and enforces
bans on the connection level. ``TrustWiring.on_canary_outcome`` receives a
``CanaryOutcome`` for every judged canary (labelled rows for the router).
Adversarial behaviour lives in ``peermind.testnet.adversary``, never here.
"""

from ._admission import Admission
from ._canaries import Canary, CanaryDeck, Verdict, judge, load_canaries
from ._enforcer import BanEnforcer
from ._errors import PeerNotKnown, TrustWiringError
from ._evidence_map import VIOLATION_CLASSES, to_record, violation_kind, violation_source
from ._ledger import (
    Exclusion,
    ReplayClock,
    TrustLedger,
    canary_detail,
    llr_of_detail,
    replay_horizon_s,
)
from ._metrics import TrustMetrics
from ._opinions import OpinionGossip, trust_topic
from ._outcome import CanaryOutcome, OutcomeSink, ignore_outcome
from ._own_pow import load_or_solve_pow
from ._params import ABUSE_FACTOR, abuse_params, trust_params
from ._verification import Verification, answer_key
from ._wiring import TrustWiring, bootstrap_peer_ids

__all__ = [
    "ABUSE_FACTOR",
    "VIOLATION_CLASSES",
    "Admission",
    "BanEnforcer",
    "Canary",
    "CanaryDeck",
    "CanaryOutcome",
    "Exclusion",
    "OpinionGossip",
    "OutcomeSink",
    "PeerNotKnown",
    "ReplayClock",
    "TrustLedger",
    "TrustMetrics",
    "TrustWiring",
    "TrustWiringError",
    "Verdict",
    "Verification",
    "abuse_params",
    "answer_key",
    "bootstrap_peer_ids",
    "canary_detail",
    "ignore_outcome",
    "judge",
    "load_canaries",
    "llr_of_detail",
    "load_or_solve_pow",
    "replay_horizon_s",
    "to_record",
    "trust_params",
    "trust_topic",
    "violation_kind",
    "violation_source",
]
