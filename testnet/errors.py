"""Errors of the testnet package."""


class TestnetError(Exception):
    """A testnet operation failed; the message says what to do."""

    __test__ = False  # not a pytest test class


class StaleState(TestnetError):
    """A state file names processes that are gone (a previous run crashed)."""


class NodeDidNotStart(TestnetError):
    """A node process exited or never became ready; the message quotes its log."""


class ConvergenceTimeout(TestnetError):
    """Nodes did not all see each other's ads in time."""


class FaultUnavailable(TestnetError):
    """This machine cannot inject the requested fault (missing tool or privilege)."""


class EvalError(TestnetError):
    """An evaluation could not run (bad arguments, unreachable network, no data)."""


class DemoFailed(TestnetError):
    """A step of ``peermind testnet demo`` failed; the message names the step and why."""
