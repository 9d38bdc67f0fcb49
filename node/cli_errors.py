"""Every error a user can cause, as the one line the ``peermind`` command prints.

One table maps exception types to that line, most specific first; ``main`` consults it
and nothing else, so handlers raise typed errors (or let the OS's file errors through)
instead of catching and printing on their own. An error the table does not know is a
bug and keeps its traceback; ``PEERMIND_DEBUG=1`` shows the traceback of known ones too.
"""

from __future__ import annotations

import argparse
import errno
from collections.abc import Callable
from typing import NoReturn, TypeAlias

from .errors import NodeError

__all__ = ["OneLineParser", "Subcommands", "user_error_line"]

Describe = Callable[[BaseException], str]


def _path(exc: BaseException) -> str:
    return str(getattr(exc, "filename", "") or "")


def _os_error(exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc)
    path = _path(exc)
    return f"{reason}: {path}" if path else str(reason)


def _not_dir(exc: BaseException) -> str:
    return f"{_path(exc)}: a part of this path is a file, not a directory"


def _exists(exc: BaseException) -> str:
    return f"{_path(exc)} already exists and is not a directory (give a directory path)"


def _peermind_error(exc: BaseException) -> str | None:
    """Other peermind packages' typed errors (testnet, bench, federated): their message."""
    return str(exc) if type(exc).__module__.startswith("peermind.") else None


# (exception type, how to say it); most specific first.
USER_ERRORS: tuple[tuple[type[BaseException], Describe], ...] = (
    (NodeError, str),
    (FileNotFoundError, lambda e: f"no such file or directory: {_path(e)}"),
    (PermissionError, lambda e: f"permission denied: {_path(e)}"),
    (IsADirectoryError, lambda e: f"{_path(e)} is a directory; a file is needed here"),
    (NotADirectoryError, _not_dir),
    (FileExistsError, _exists),
)


def user_error_line(exc: BaseException) -> str | None:
    """The line to print for ``exc``; None when it is not a user's error (a bug: keep the traceback)."""
    if isinstance(exc, BaseExceptionGroup):  # trio nurseries wrap what a task raised
        lines = [user_error_line(inner) for inner in exc.exceptions]
        return "; ".join(line for line in lines if line) if all(lines) else None
    for kind, describe in USER_ERRORS:
        if isinstance(exc, kind):
            return describe(exc)
    if isinstance(exc, OSError) and (exc.filename or exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES)):
        return _os_error(exc)
    return _peermind_error(exc)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage mistakes (unknown flag, bad choice, missing argument) are one line, like every
    other user error, pointing at the command's ``--help`` instead of printing the whole usage block."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as the one ``peermind: ...`` line and exit 2 (argparse's code for usage errors)."""
        command = self.prog.removeprefix("peermind").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"peermind: {where}{message} (see `{self.prog} --help`)\n")


Subcommands: TypeAlias = "argparse._SubParsersAction[OneLineParser]"  # not subscriptable at run time
"""What ``OneLineParser.add_subparsers`` returns: the command groups of ``peermind`` register into one."""
