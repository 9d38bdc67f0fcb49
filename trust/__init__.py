"""peermind.trust: reputation, verification policy, global trust and abuse limits.

Pure logic: the node hands it evidence (who did what, when) and persists the
plain rows it returns. No network I/O, no SQLite; every clock is injectable
(``now=`` arguments), so simulations and tests run on virtual time. See README.md for the formulas and for what
the limits do and do not stop.
"""

from ._admission_cert import admission_from_text, admission_to_text, issue_admission
from ._allowances import ABUSE_FACTOR, REQUEST_ABUSE_FACTOR, abuse_params, gossip_allowances
from ._answers import answers_match, normalise_answer
from ._canary import CanaryItem, CanaryPolicy, judge_canary
from ._conduct import RequesterConduct
from ._confidence_claims import CalibrationTracker
from ._contention import CONTENDED_WINDOW_S, ModelContention
from ._cross_check import PeerAnswer, cross_check
from ._decision_score import GLOBAL_CEILING, blend, global_score, honesty_weight
from ._errors import InsufficientWork, InvalidInput, RateLimited, TrustError, UnknownPeer
from ._event import EvidenceEvent, EvidenceSink, ViolationSource, violation_source
from ._evidence import Evidence, EvidenceRecord, ViolationKind
from ._global_trust import SELF, GlobalTrust, TrustOpinion
from ._ids import check_peer_id
from ._known_answer import KnownAnswerJudge
from ._membership import MembershipRules, membership_proof, network_key
from ._model_baseline import SELF_SOURCE, ModelBaseline, ModelStats
from ._newcomer_pool import NewcomerPool, PoolRefusal
from ._params import DEFAULT_VIOLATION_WEIGHTS, DEFAULT_WEIGHTS, TrustParams
from ._pow import ProofOfWork, pow_challenge, solve, verify
from ._rate_limit import LimitKind, RateLimiter, TokenBucket
from ._replay import (
    ReplayClock,
    ReplayCount,
    StoredEvidence,
    canary_detail,
    llr_of_detail,
    record_from_row,
    replay_horizon_s,
    replay_rows,
)
from ._reputation import CHECKED_KINDS, Explanation, KindSummary, ReputationBook, Standing
from ._sprt import DISHONEST_SHARE, canary_llr

__all__ = [
    "ABUSE_FACTOR",
    "CHECKED_KINDS",
    "CONTENDED_WINDOW_S",
    "DEFAULT_VIOLATION_WEIGHTS",
    "DEFAULT_WEIGHTS",
    "DISHONEST_SHARE",
    "GLOBAL_CEILING",
    "REQUEST_ABUSE_FACTOR",
    "SELF",
    "SELF_SOURCE",
    "CalibrationTracker",
    "CanaryItem",
    "CanaryPolicy",
    "Evidence",
    "EvidenceEvent",
    "EvidenceRecord",
    "EvidenceSink",
    "Explanation",
    "GlobalTrust",
    "InsufficientWork",
    "InvalidInput",
    "KindSummary",
    "KnownAnswerJudge",
    "LimitKind",
    "MembershipRules",
    "ModelBaseline",
    "ModelContention",
    "ModelStats",
    "NewcomerPool",
    "PoolRefusal",
    "PeerAnswer",
    "ProofOfWork",
    "RateLimited",
    "RateLimiter",
    "ReplayClock",
    "ReplayCount",
    "ReputationBook",
    "RequesterConduct",
    "Standing",
    "StoredEvidence",
    "TokenBucket",
    "TrustError",
    "TrustOpinion",
    "TrustParams",
    "UnknownPeer",
    "ViolationKind",
    "ViolationSource",
    "abuse_params",
    "admission_from_text",
    "admission_to_text",
    "answers_match",
    "blend",
    "canary_detail",
    "canary_llr",
    "check_peer_id",
    "cross_check",
    "global_score",
    "gossip_allowances",
    "honesty_weight",
    "judge_canary",
    "llr_of_detail",
    "issue_admission",
    "membership_proof",
    "network_key",
    "normalise_answer",
    "pow_challenge",
    "record_from_row",
    "replay_horizon_s",
    "replay_rows",
    "solve",
    "verify",
    "violation_source",
]
