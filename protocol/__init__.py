"""peermind.protocol: the signed wire format every peer speaks.

Frames (4-byte length + bytes) carry envelopes (msgpack payload + Ed25519
signature by the sender's libp2p identity) that carry typed, validated
message bodies. Pure logic plus framing over any ``read``/``write`` stream:
no sockets, storage, LLM or nurseries. The wire format is specified in
SPEC.md next to this file.
"""

from ._envelope import (
    DEFAULT_MAX_FRAME,
    ENVELOPE_DOMAIN,
    NONCE_LEN,
    PROTOCOL_VERSION,
    Envelope,
    Verifier,
    seal,
    seal_body,
)
from ._errors import (
    ADMISSION_ERRORS,
    AdmissionError,
    BadSignature,
    EnvelopeError,
    FrameTimeout,
    FrameTooLarge,
    FrameWriteError,
    FramingError,
    InvalidPeerId,
    InvalidPublicKey,
    MalformedEnvelope,
    NotMember,
    PeerMismatch,
    ProtocolError,
    ReplayedNonce,
    SchemaError,
    SenderKeyMismatch,
    StaleTimestamp,
    TruncatedFrame,
    Unadvertised,
    UnknownMessageType,
    UnknownRequiredField,
    UnsupportedVersion,
    WrongNetwork,
    WrongRecipient,
)
from ._framing import add_frame_tap, frame_bytes, read_frame, split_frames, tap_frame, write_frame
from ._identity import Signer, peer_id_from_b58, peer_id_from_public_key, peer_id_to_b58
from ._protocol_ids import FL_PROTOCOL_ID, TASK_PROTOCOL_ID, ads_topic
from ._schema import REQUIRED_KEY, FieldInfo, Limits, Message, message_types, truncate_utf8
from ._schemas_ads import CapabilityAd, ModelInfo
from ._schemas_feedback import FeedbackRecord
from ._schemas_knowledge import SUMMARY_DIMS, Citation, KnowledgeCentroid, KnowledgeSummary
from ._schemas_outcome import MAX_OUTCOMES, OUTCOME_PROTOCOL_ID, OutcomeEntry, TaskOutcome
from ._schemas_task import (
    ChatMessage,
    ContinuationScore,
    TaskAward,
    TaskBid,
    TaskOffer,
    TaskRefusal,
    TaskRequest,
    TaskResult,
)
from ._schemas_training import TrainInvite, TrainMessage, TrainReply
from ._schemas_trust import PeerOpinion, TrustOpinion
from ._stream_chunks import (
    MAX_CHUNK_TEXT,
    ChunkAssembler,
    ChunkOutOfOrder,
    ChunkTextMismatch,
    StreamViolation,
    TaskChunk,
)

__all__ = [
    # constants
    "PROTOCOL_VERSION",
    "DEFAULT_MAX_FRAME",
    "ENVELOPE_DOMAIN",
    "NONCE_LEN",
    "REQUIRED_KEY",
    "TASK_PROTOCOL_ID",
    "FL_PROTOCOL_ID",
    "ads_topic",
    # identity
    "Signer",
    "peer_id_from_public_key",
    "peer_id_to_b58",
    "peer_id_from_b58",
    # envelopes and framing
    "Envelope",
    "seal",
    "seal_body",
    "Verifier",
    "read_frame",
    "write_frame",
    "add_frame_tap",
    "frame_bytes",
    "split_frames",
    "tap_frame",
    # schemas
    "Message",
    "message_types",
    "Limits",
    "FieldInfo",
    "truncate_utf8",
    "ModelInfo",
    "CapabilityAd",
    "KnowledgeSummary",
    "KnowledgeCentroid",
    "Citation",
    "SUMMARY_DIMS",
    "ChatMessage",
    "ContinuationScore",
    "TaskRequest",
    "TaskResult",
    "TaskRefusal",
    "TaskOffer",
    "TaskBid",
    "TaskAward",
    "TaskChunk",
    "ChunkAssembler",
    "MAX_CHUNK_TEXT",
    "FeedbackRecord",
    "TaskOutcome",
    "OutcomeEntry",
    "OUTCOME_PROTOCOL_ID",
    "MAX_OUTCOMES",
    "PeerOpinion",
    "TrustOpinion",
    "TrainInvite",
    "TrainMessage",
    "TrainReply",
    # errors
    "ProtocolError",
    "FramingError",
    "FrameTooLarge",
    "TruncatedFrame",
    "FrameTimeout",
    "FrameWriteError",
    "EnvelopeError",
    "MalformedEnvelope",
    "InvalidPublicKey",
    "InvalidPeerId",
    "UnsupportedVersion",
    "UnknownMessageType",
    "BadSignature",
    "SenderKeyMismatch",
    "PeerMismatch",
    "WrongRecipient",
    "StaleTimestamp",
    "ReplayedNonce",
    "ADMISSION_ERRORS",
    "AdmissionError",
    "NotMember",
    "Unadvertised",
    "WrongNetwork",
    "SchemaError",
    "UnknownRequiredField",
    "StreamViolation",
    "ChunkOutOfOrder",
    "ChunkTextMismatch",
]
