"""peermind.federated: the router model, query embeddings and federated training.

The router predicts, per model, the probability that it answers a query
correctly; nodes train it together with Flower over their own libp2p
transport (``GridTransport``), and each node validates a new global router on
its own feedback before adopting it (``adopt_if_better``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._adoption import adopt_if_better
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
from ._knowledge_value import KnowledgeValue, MatchOutcome, MatchWeight
from ._neighbours import NeighbourRouter, QualityPosterior
from ._npy import NPY_LOCK, array_to_numpy
from ._router import RouterModel
from ._schema import EMBED_DIM, FeatureSchema, FeedbackRow
from ._strategy_names import STRATEGY_NAMES
from ._transport import BatchGridTransport, GridTransport, node_id_for_peer

if TYPE_CHECKING:
    from ._client_app import LocalDp, LocalTraining, RowsProvider, make_client_app
    from ._federated_client import FederatedClient
    from ._flower_compat import check_flower_compat, message_from_bytes, message_to_bytes
    from ._grid import ExchangeOutcome, P2PGrid
    from ._in_process import InProcessTransport
    from ._reputation_strategy import AggregationRecord, ReputationWeightedFedAvg
    from ._server_app import TrainingPlan, make_server_app
    from ._strategies import StrategyOptions, build_strategy
    from ._training import RoundEvent, RoundReport, TrainingReport, run_training

# Loaded on first use (PEP 562): these names need Flower (flwr, grpc, protobuf: ~40 MB of a
# node's RSS), which a node only needs once a training run starts; the router, the schema
# and the embedder do not.
_FLOWER_HOMES = {
    "LocalDp": "._client_app",
    "LocalTraining": "._client_app",
    "RowsProvider": "._client_app",
    "make_client_app": "._client_app",
    "FederatedClient": "._federated_client",
    "check_flower_compat": "._flower_compat",
    "message_from_bytes": "._flower_compat",
    "message_to_bytes": "._flower_compat",
    "ExchangeOutcome": "._grid",
    "P2PGrid": "._grid",
    "InProcessTransport": "._in_process",
    "AggregationRecord": "._reputation_strategy",
    "ReputationWeightedFedAvg": "._reputation_strategy",
    "TrainingPlan": "._server_app",
    "make_server_app": "._server_app",
    "StrategyOptions": "._strategies",
    "build_strategy": "._strategies",
    "RoundEvent": "._training",
    "RoundReport": "._training",
    "TrainingReport": "._training",
    "run_training": "._training",
}


def __getattr__(name: str) -> object:
    home = _FLOWER_HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "EMBED_DIM",
    "MODEL_NAME",
    "NPY_LOCK",
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
    "array_to_numpy",
    "build_strategy",
    "check_flower_compat",
    "make_client_app",
    "make_server_app",
    "message_from_bytes",
    "message_to_bytes",
    "node_id_for_peer",
    "run_training",
]
