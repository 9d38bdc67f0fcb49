"""The node's trust wiring: reputation from evidence, acted on everywhere peers are chosen.

``TrustWiring`` (held by the daemon as ``node.trust``) persists a ``peermind.trust``
ReputationBook in the node's store, gates inbound tasks and gossip (bans, rate limits,
proof of work), verifies peers with canaries (judged against what each peer's own model
should score, learned from the network) and cross-checks beside real questions, gossips
opinions for EigenTrust global trust (read where local evidence is thin) and enforces
bans on the connection level. Evidence arrives as typed ``peermind.trust.EvidenceEvent``s
(protocol errors mapped once at the p2p edge, ``node/p2p/evidence.py``); the policy (scores,
replay, judging, allowances) lives in ``peermind.trust``; this package is the adapter. ``TrustWiring.on_canary_outcome`` receives a
``CanaryOutcome`` for every judged canary (labelled rows for the router).
Adversarial behaviour lives in ``peermind.testnet.adversary``, never here.
"""

from ._admission import Admission
from ._canary_deck import Canary, CanaryDeck, Verdict, judge, load_canaries
from ._config_params import trust_params
from ._enforcer import BanEnforcer
from ._errors import PeerNotKnown, TrustWiringError
from ._ledger import Exclusion, TrustLedger
from ._metrics import TrustMetrics
from ._opinions import OpinionGossip, trust_topic
from ._outcome import CanaryOutcome, OutcomeSink, ignore_outcome
from ._own_pow import load_or_solve_pow
from ._ports import CollabHooksPort, RunLocalTask, TrustPorts
from ._verification import Verification, answer_key
from ._wiring import TrustWiring, bootstrap_peer_ids
from ._work import ModelSpeed, task_seconds, used_seconds

__all__ = [
    "Admission",
    "BanEnforcer",
    "Canary",
    "CanaryDeck",
    "CanaryOutcome",
    "CollabHooksPort",
    "Exclusion",
    "ModelSpeed",
    "OpinionGossip",
    "OutcomeSink",
    "PeerNotKnown",
    "RunLocalTask",
    "TrustLedger",
    "TrustMetrics",
    "TrustPorts",
    "TrustWiring",
    "TrustWiringError",
    "Verdict",
    "Verification",
    "answer_key",
    "bootstrap_peer_ids",
    "ignore_outcome",
    "judge",
    "load_canaries",
    "load_or_solve_pow",
    "task_seconds",
    "trust_params",
    "trust_topic",
    "used_seconds",
]
