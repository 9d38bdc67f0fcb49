"""peermind.federated: the router model, query embeddings and federated training.

The router predicts, per model, the probability that it answers a query
correctly; nodes train it together with Flower over their own libp2p
transport (``GridTransport``), and each node validates a new global router on
its own feedback before adopting it (``adopt_if_better``).
"""

from ._adoption import adopt_if_better
from ._client_app import LocalDp, LocalTraining, RowsProvider, make_client_app
from ._embedding import MODEL_NAME, Embedder
from ._errors import (
    AggregationFailed,
    EmbedderUnavailable,
    FederatedError,
    FlowerIncompatible,
    IncompatibleWeights,
    InvalidEmbedding,
    InvalidFeedback,
    InvalidTrainingConfig,
    MalformedMessage,
    NotEnoughParticipants,
    RouterFileError,
    TransportError,
)
from ._federated_client import FederatedClient
from ._flower_compat import check_flower_compat, message_from_bytes, message_to_bytes
from ._grid import ExchangeOutcome, P2PGrid
from ._in_process import InProcessTransport
from ._knowledge_value import KnowledgeValue, MatchOutcome, MatchWeight
from ._neighbours import NeighbourRouter, QualityPosterior
from ._reputation_strategy import AggregationRecord, ReputationWeightedFedAvg
from ._router import RouterModel
from ._schema import EMBED_DIM, FeatureSchema, FeedbackRow
from ._server_app import TrainingPlan, make_server_app
from ._strategies import STRATEGY_NAMES, StrategyOptions, build_strategy
from ._training import RoundEvent, RoundReport, TrainingReport, run_training
from ._transport import BatchGridTransport, GridTransport, node_id_for_peer

__all__ = [
    "EMBED_DIM",
    "MODEL_NAME",
    "STRATEGY_NAMES",
    "AggregationFailed",
    "AggregationRecord",
    "BatchGridTransport",
    "Embedder",
    "EmbedderUnavailable",
    "ExchangeOutcome",
    "FeatureSchema",
    "FederatedClient",
    "FederatedError",
    "FeedbackRow",
    "FlowerIncompatible",
    "GridTransport",
    "InProcessTransport",
    "IncompatibleWeights",
    "InvalidEmbedding",
    "InvalidFeedback",
    "InvalidTrainingConfig",
    "KnowledgeValue",
    "LocalDp",
    "MatchOutcome",
    "MatchWeight",
    "LocalTraining",
    "MalformedMessage",
    "NeighbourRouter",
    "NotEnoughParticipants",
    "P2PGrid",
    "QualityPosterior",
    "ReputationWeightedFedAvg",
    "RoundEvent",
    "RoundReport",
    "RouterFileError",
    "RouterModel",
    "RowsProvider",
    "StrategyOptions",
    "TrainingPlan",
    "TrainingReport",
    "TransportError",
    "adopt_if_better",
    "build_strategy",
    "check_flower_compat",
    "make_client_app",
    "make_server_app",
    "message_from_bytes",
    "message_to_bytes",
    "node_id_for_peer",
    "run_training",
]
