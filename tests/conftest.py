"""Shared pytest configuration: offline model hubs, temp data dirs."""

import os

# Nothing may reach a model hub: the models ship inside packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

# --import-mode=importlib puts no test directory on sys.path: make tests/proc_helpers.py
# (the CLI runner and poller every real-process test shares) importable from any test.
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

_TESTS = str(Path(__file__).parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
