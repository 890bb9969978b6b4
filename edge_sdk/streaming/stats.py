"""What the streaming runtime yields per frame, and the counters of a stream.

Everything kept per stream is bounded: a run of a million frames holds the same few kilobytes
of statistics as a run of a thousand (the latency table is a fixed histogram, not a list).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_sdk.errors import EdgeSDKError
from edge_sdk.results import STAGES, FrameResult, StageLatency


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

    @property
    def in_flight(self) -> int:
        """Captured frames not yet processed, failed, dropped or discarded: inside the stages
        while the stream runs, and 0 once it has stopped (see :func:`check_accounting`)."""
        return self.captured - (self.processed + self.failed + self.dropped_in_runtime
                                + self.discarded_at_stop)

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
            "discarded_at_stop": self.discarded_at_stop, "in_flight": self.in_flight,
            "reconnects": self.reconnects,
            "stalls": self.stalls, "fps": round(self.fps, 3),
            "latency_p50_ms": round(self.latency_p50_ms, 3) if self.latencies_ms else None,
            "elapsed_s": round(time.monotonic() - self.started, 3),
        }


class AccountingError(EdgeSDKError):
    """Frames went missing: captured is not processed + failed + dropped + discarded."""


def check_accounting(stats: StreamStats) -> None:
    """Raise :class:`AccountingError` unless every captured frame is accounted for exactly once.

    ``captured == processed + failed + dropped_in_runtime + discarded_at_stop`` (frames dropped
    at the source and failed reads were never captured, so they are outside the sum).
    """
    if stats.in_flight:
        total = stats.captured - stats.in_flight
        raise AccountingError(
            f"streaming: {stats.captured} frame(s) captured but {total} accounted for (processed "
            f"{stats.processed}, failed {stats.failed}, dropped {stats.dropped_in_runtime}, "
            f"discarded {stats.discarded_at_stop}). Fix: this is a bug in edge-sdk; report it "
            "with the summary line")


class LatencyHistogram:
    """Per-stage latency statistics of any number of frames, in fixed memory.

    Bins are log-spaced from 1 µs to 100 s, 1.2 % wide: a percentile is exact to within one bin
    (clipped to the exact min and max); min, max, mean and std are exact. Replaces a list of
    every frame's :class:`~edge_sdk.results.StageLatency`, which grew by ~0.3 kB a frame.

    Example:
        >>> hist = LatencyHistogram()
        >>> for ms in (1.0, 2.0, 3.0, 4.0):
        ...     hist.add(StageLatency(total=ms))
        >>> row = hist.summary()["total"]
        >>> row["min"], row["max"], row["mean"], abs(row["p50"] - 2.5) < 0.6
        (1.0, 4.0, 2.5, True)
    """

    EDGES_MS = np.geomspace(1e-3, 1e5, 1601)

    def __init__(self, stages: tuple[str, ...] = STAGES) -> None:
        self.stages = stages
        shape = (len(stages), len(self.EDGES_MS) + 1)
        self.counts = np.zeros(shape, np.int64)
        self.n = 0
        self._sum = np.zeros(len(stages))
        self._sumsq = np.zeros(len(stages))
        self._min = np.full(len(stages), np.inf)
        self._max = np.full(len(stages), -np.inf)
        self._rows = np.arange(len(stages))

    def __len__(self) -> int:
        return self.n

    def add(self, latency: StageLatency) -> None:
        """Count one frame's per-stage latencies (ms)."""
        values = np.array([getattr(latency, stage) for stage in self.stages], np.float64)
        self.counts[self._rows, np.searchsorted(self.EDGES_MS, values)] += 1
        self.n += 1
        self._sum += values
        self._sumsq += values * values
        np.minimum(self._min, values, out=self._min)
        np.maximum(self._max, values, out=self._max)

    def summary(self) -> dict[str, dict[str, float]]:
        """Like :func:`edge_sdk.timing.summarize`: min, mean, p50 ... max, std per stage."""
        from edge_sdk.timing import STAT_NAMES

        if self.n == 0:
            return {stage: dict.fromkeys(STAT_NAMES, float("nan")) for stage in self.stages}
        edges = self.EDGES_MS
        mids = np.concatenate(([edges[0]], np.sqrt(edges[1:] * edges[:-1]), [edges[-1]]))
        table = {}
        for i, stage in enumerate(self.stages):
            cumulative = np.cumsum(self.counts[i])
            row = {"min": float(self._min[i]), "max": float(self._max[i]),
                   "mean": float(self._sum[i] / self.n)}
            for q in (50, 90, 95, 99):
                k = int(np.searchsorted(cumulative, q / 100 * self.n))
                row[f"p{q}"] = float(np.clip(mids[k], self._min[i], self._max[i]))
            row["std"] = float(np.sqrt(max(0.0, self._sumsq[i] / self.n - row["mean"] ** 2)))
            table[stage] = {name: row[name] for name in STAT_NAMES}
        return table
