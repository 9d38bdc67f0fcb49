"""Errors of the federated benchmark (one base class, narrow subclasses)."""

from __future__ import annotations

from ..errors import TestnetError


class FedBenchError(TestnetError):
    """The federated benchmark could not prepare its data or run an experiment."""


class ExperimentFailed(FedBenchError):
    """A training run or a node-network measurement failed; the message says where."""
