"""Typed errors of the LLM backend.

The node turns each of these into a typed refusal or a one-line CLI message, so
every class names one cause and every message says how to fix it.
"""


class LLMError(Exception):
    """Base class of every error raised by ``peermind.node.llm``."""


class ModelNotFound(LLMError):
    """The model spec names no known profile and no readable GGUF file."""


class InvalidRequest(LLMError, ValueError):
    """The caller's arguments are malformed (roles, types, ranges)."""


class BackendBusy(LLMError):
    """The bounded queue is full; retry later or ask another peer."""


class DeadlineUnmeetable(LLMError):
    """The deadline has passed or cannot be met by the current estimate."""


class BackendClosed(LLMError):
    """The backend was closed; load a new one."""


class PromptTooLong(LLMError):
    """The prompt plus the requested tokens do not fit the context window."""
