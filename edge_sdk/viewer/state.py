"""The numbers the page charts: per-stage latency over a sliding window, and the counters."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from edge_sdk.results import STAGES

LATENCY_KEYS = (*STAGES, "grab_to_result")
"""Per-frame stages of the pipeline, then grab-to-result (queueing in the runtime included)."""

COUNTERS = ("captured", "processed", "failed", "source_errors", "dropped_at_source",
            "dropped_in_runtime", "discarded_at_stop", "reconnects", "stalls", "fps")
"""The run summary's counters that the page shows by name (any further key is shown as is)."""


class LatencyWindow:
    """The last ``size`` frames' latency per stage; percentiles and histograms on demand.

    ``add`` is called by the pipeline's consumer and only appends; the arithmetic happens when
    the page asks (twice a second), in the viewer's own thread.

    Example:
        >>> from edge_sdk.results import StageLatency
        >>> window = LatencyWindow(size=10)
        >>> for ms in range(1, 11):
        ...     window.add(StageLatency(segment=float(ms), total=float(ms)), grab_to_result_ms=ms)
        >>> window.percentiles()["segment"]
        {'p50': 5.5, 'p99': 9.91, 'n': 10}
    """

    def __init__(self, size: int = 300) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._values = {key: deque[float](maxlen=size) for key in LATENCY_KEYS}

    def add(self, latency: Any, grab_to_result_ms: float) -> None:
        with self._lock:
            for key in STAGES:
                self._values[key].append(float(getattr(latency, key)))
            self._values["grab_to_result"].append(float(grab_to_result_ms))

    def _arrays(self) -> dict[str, np.ndarray]:
        with self._lock:
            return {key: np.fromiter(values, float, len(values))
                    for key, values in self._values.items()}

    def percentiles(self) -> dict[str, dict[str, float | int]]:
        """p50 and p99 (ms) of each stage over the window, and the number of frames."""
        out: dict[str, dict[str, float | int]] = {}
        for key, values in self._arrays().items():
            if values.size:
                p50, p99 = np.percentile(values, [50, 99])
                out[key] = {"p50": round(float(p50), 3), "p99": round(float(p99), 3),
                            "n": int(values.size)}
        return out

    def histograms(self, bins: int = 24) -> dict[str, dict[str, list[float] | list[int]]]:
        """Per stage: ``edges`` (bins + 1 values, ms) and ``counts`` over the window."""
        out: dict[str, dict[str, list[float] | list[int]]] = {}
        for key, values in self._arrays().items():
            if values.size:
                low, high = float(values.min()), float(values.max())
                if high - low < 1e-6:
                    high = low + 1.0
                counts, edges = np.histogram(values, bins=bins, range=(low, high))
                out[key] = {"edges": [round(float(e), 3) for e in edges],
                            "counts": [int(c) for c in counts]}
        return out


def read_summary(stats: Any, tries: int = 5) -> dict[str, Any]:
    """``stats.summary()`` read from another thread than the one that updates it.

    The runtime appends to its latency deque while we compute its median; a deque changed in
    mid-iteration raises RuntimeError, and the next read a moment later succeeds.
    """
    for _ in range(tries - 1):
        try:
            return dict(stats.summary())
        except RuntimeError:
            continue
    return dict(stats.summary())
