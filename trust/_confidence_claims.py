"""Tracking whether a peer's advertised confidence matches how often it is right.

A peer that claims 0.95 confidence and is right half the time either lies to
win bids or is badly calibrated; either way its confidence must not steer the
router. Only high-confidence claims are tracked: low confidence that turns out
wrong is honest.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

from ._errors import InvalidInput
from ._evidence import Evidence
from ._ids import check_peer_id
from ._params import TrustParams

__all__ = ["CalibrationTracker"]


class CalibrationTracker:
    """Per-peer window of (high confidence, correct) outcomes."""

    def __init__(self, params: TrustParams | None = None) -> None:
        self.params = params if params is not None else TrustParams()
        self._windows: OrderedDict[str, deque[tuple[float, bool]]] = OrderedDict()

    def confidence_consistency(
        self, peer: str, advertised_confidence: float, correct: bool
    ) -> Evidence | None:
        """Observe one verified answer; CONFIDENCE_MISCALIBRATED when the peer is overconfident.

        Flags when, over the last ``calibration_window`` high-confidence claims
        (at least ``calibration_min_samples``), mean claimed confidence exceeds
        accuracy by more than ``calibration_max_gap``. The window is then
        cleared, so each flag needs fresh evidence.
        """
        check_peer_id(peer)
        conf = advertised_confidence
        if isinstance(conf, bool) or not isinstance(conf, int | float) or not math.isfinite(conf):
            raise InvalidInput(f"advertised_confidence must be a number, got {conf!r}")
        if not 0 <= conf <= 1:
            raise InvalidInput(f"advertised_confidence must be within [0, 1], got {conf}")
        if not isinstance(correct, bool):
            raise InvalidInput(f"correct must be a bool, got {type(correct).__name__}")
        p = self.params
        if conf < p.calibration_high_confidence:
            return None
        window = self._windows.pop(peer, None) or deque(maxlen=p.calibration_window)
        window.append((float(conf), correct))
        self._windows[peer] = window
        while len(self._windows) > p.max_tracked_peers:
            self._windows.popitem(last=False)
        if len(window) < p.calibration_min_samples:
            return None
        claimed = sum(c for c, _ in window) / len(window)
        accuracy = sum(ok for _, ok in window) / len(window)
        if claimed - accuracy > p.calibration_max_gap:
            window.clear()
            return Evidence.CONFIDENCE_MISCALIBRATED
        return None

    def gap(self, peer: str) -> float | None:
        """Current claimed-minus-actual gap over the window, None with too few samples."""
        window = self._windows.get(peer)
        if not window or len(window) < self.params.calibration_min_samples:
            return None
        return sum(c - ok for c, ok in window) / len(window)
