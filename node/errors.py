"""Typed errors of the node daemon.

Everything the node package raises on purpose is a :class:`NodeError`, so the
CLI can turn any of them into one line for the user and the daemon can log one
and keep serving. Messages say what was wrong (naming the file, environment
variable or flag involved) and how to fix it.

Keep this a flat list of small classes: other node modules add their own
subclasses here.
"""

from __future__ import annotations


class NodeError(Exception):
    """Base class of every deliberate error raised by ``peermind.node``."""


class ConfigError(NodeError):
    """A setting is unknown, of the wrong type or out of range.

    The message names where the bad value came from: the config file and key,
    the environment variable, or the command-line flag.
    """


class IdentityError(NodeError):
    """The node's key file is missing, unreadable, corrupt or would be overwritten.

    Never recovered from by generating a new key: a new key is a new peer ID,
    which would silently throw away the node's reputation.
    """


class StoreError(NodeError):
    """The node's SQLite store could not be opened, read or written."""


class StoreFull(StoreError):
    """The disk (or the configured database size cap) is full.

    The write was rolled back; the store stays open and readable.
    """


class StoreVersionError(StoreError):
    """The database was written by a newer peermind than this one understands."""


class NodeStartupError(NodeError):
    """The daemon could not start (port taken, bad data dir, missing model, ...)."""
