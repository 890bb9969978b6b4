"""Latency statistics over many frames: percentiles per stage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from edge_sdk.results import STAGES, StageLatency

STAT_NAMES = ("min", "mean", "p50", "p90", "p95", "p99", "max", "std")


def describe(values_ms: Sequence[float]) -> dict[str, float]:
    """min, mean, p50, p90, p95, p99, max and std of latencies in ms (NaN when empty).

    Example:
        >>> describe([1.0, 2.0, 3.0, 4.0])["p50"]
        2.5
    """
    if len(values_ms) == 0:
        return {name: float("nan") for name in STAT_NAMES}
    v = np.asarray(values_ms, dtype=np.float64)
    p50, p90, p95, p99 = np.percentile(v, [50, 90, 95, 99])
    return {"min": float(v.min()), "mean": float(v.mean()), "p50": float(p50), "p90": float(p90),
            "p95": float(p95), "p99": float(p99), "max": float(v.max()), "std": float(v.std())}


def summarize(latencies: Iterable[StageLatency]) -> dict[str, dict[str, float]]:
    """Per-stage statistics of many frames' :class:`StageLatency`."""
    per_stage: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for latency in latencies:
        for stage in STAGES:
            per_stage[stage].append(getattr(latency, stage))
    return {stage: describe(values) for stage, values in per_stage.items()}


def format_table(stats: dict[str, dict[str, float]], columns: Sequence[str] = ("mean", "p50", "p90",
                 "p99", "max")) -> str:
    """A fixed-width text table: one row per stage, one column per statistic (ms)."""
    lines = [f"{'stage (ms)':<12}" + "".join(f"{c:>9}" for c in columns)]
    for stage, row in stats.items():
        lines.append(f"{stage:<12}" + "".join(f"{row[c]:>9.3f}" for c in columns))
    return "\n".join(lines)
