"""What the streaming runtime yields per frame, and the counters of a stream."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_sdk.results import FrameResult


@dataclass(frozen=True)
class StreamResult:
    """One processed frame, as the runtime yields it.

    Attributes:
        image: The pixels that were processed: the imaging area only, never the burned-in text
            around it. Draw overlays and record from this.
        result: The pipeline's result (mask and boxes relative to ``image``).
        frame_index: The source's sequence number (gaps: frames dropped before processing).
        info: The source frame's extras (e.g. the simulator's ground truth).
        latency_ms: From grab to result, queueing included.
    """

    image: np.ndarray
    result: FrameResult
    frame_index: int
    info: dict[str, Any]
    latency_ms: float


@dataclass
class StreamStats:
    """Counters of a stream; read them at any time (they are updated as frames flow)."""

    captured: int = 0
    processed: int = 0
    failed: int = 0
    """Captured frames the pipeline could not process (bad pixels, a region that does not fit)."""
    source_errors: int = 0
    """Reads that failed at the source (an unreadable file, a lost device): not captured."""
    dropped_at_source: int = 0
    dropped_in_runtime: int = 0
    discarded_at_stop: int = 0
    reconnects: int = 0
    stalls: int = 0
    stalled: bool = False
    started: float = field(default_factory=time.monotonic)
    first_result: float | None = None
    last_result: float | None = None
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    @property
    def fps(self) -> float:
        """Processed frames per second: intervals between results over their span."""
        if self.processed < 2 or self.first_result is None or self.last_result is None:
            return 0.0
        span = self.last_result - self.first_result
        return (self.processed - 1) / span if span > 0 else 0.0

    @property
    def latency_p50_ms(self) -> float:
        return float(np.percentile(self.latencies_ms, 50)) if self.latencies_ms else float("nan")

    @property
    def failures(self) -> int:
        """Failed frames plus failed source reads: what makes ``edge-sdk run`` exit with 1."""
        return self.failed + self.source_errors

    @property
    def dropped(self) -> int:
        return self.dropped_at_source + self.dropped_in_runtime

    def progress_line(self) -> str:
        """One line for a terminal, e.g. ``29.9 fps | latency p50 8.1 ms | ...``."""
        line = (f"{self.fps:5.1f} fps | latency p50 {self.latency_p50_ms:6.1f} ms | captured "
                f"{self.captured} processed {self.processed} dropped {self.dropped} (source "
                f"{self.dropped_at_source}, runtime {self.dropped_in_runtime}) failed {self.failures}")
        if self.reconnects:
            line += f" reconnects {self.reconnects}"
        if self.stalled:
            line += " | SOURCE STALLED"
        return line

    def summary(self) -> dict[str, Any]:
        """The counters and rates as a JSON-ready dict."""
        return {
            "captured": self.captured, "processed": self.processed, "failed": self.failed,
            "source_errors": self.source_errors,
            "dropped_at_source": self.dropped_at_source,
            "dropped_in_runtime": self.dropped_in_runtime,
            "discarded_at_stop": self.discarded_at_stop, "reconnects": self.reconnects,
            "stalls": self.stalls, "fps": round(self.fps, 3),
            "latency_p50_ms": round(self.latency_p50_ms, 3) if self.latencies_ms else None,
            "elapsed_s": round(time.monotonic() - self.started, 3),
        }
