"""Typed errors of collaboration: each says what failed and what the user can change.

``http_status`` lets the API map an error to a status code without knowing every class.
"""

from __future__ import annotations

from ..errors import NodeError


class CollaborationError(NodeError):
    """No acceptable answer could be produced."""

    http_status = 500


class InfeasibleConstraints(CollaborationError):
    """No candidate satisfies the request's constraints; ``constraint`` names which."""

    http_status = 422

    def __init__(self, constraint: str, detail: str) -> None:
        super().__init__(f"no peer satisfies {constraint}: {detail}")
        self.constraint = constraint


class AllCandidatesFailed(CollaborationError):
    """Every candidate tried refused, timed out or failed."""

    http_status = 503


class InvalidOptions(CollaborationError):
    """A request's collaboration options are malformed (unknown mode, k out of range, ...)."""

    http_status = 400


class RouterUnavailable(CollaborationError):
    """The learned router cannot be used (no embedder, no data to fit, damaged weights)."""

    http_status = 503


class SeedError(CollaborationError):
    """Seeding the router from benchmark data failed (no data, no peers, ...)."""

    http_status = 503


class SeedInProgress(CollaborationError):
    """A seed run is already going; wait for it (``peermind router status``)."""

    http_status = 409


class UnknownTask(CollaborationError):
    """No feedback row carries this task ID (only answers given by this node can be marked)."""

    http_status = 404


class SeedDataInvalid(SeedError):
    """The user's own seed items (``router seed --data``) are malformed; the message names the item."""

    http_status = 400
