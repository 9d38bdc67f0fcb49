"""Reading .npy data one thread at a time: CPython 3.11 builds ASTs unsafely across threads.

numpy parses every .npy header (``np.load``, Flower's ``Array.numpy()``) with
``ast.literal_eval``. In CPython 3.11 the AST constructor's recursion-depth bookkeeping is
shared by threads (python/cpython#106905), so two threads parsing at once can raise a spurious
``SystemError: AST constructor recursion depth mismatch``. Training decodes weights in worker
threads: in a CI run a participant's instruction was refused as "router arrays cannot be
decoded" for that reason alone. Every place that reads .npy data takes ``NPY_LOCK``; a header
is a few hundred bytes, so holding it costs microseconds.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from flwr.app import Array

NPY_LOCK = threading.Lock()
"""Held while numpy parses .npy headers (see the module docstring)."""


def array_to_numpy(array: Array) -> np.ndarray:
    """``array.numpy()`` under ``NPY_LOCK``."""
    with NPY_LOCK:
        return array.numpy()
