"""CPU latency of ONNX files under ONNX Runtime, as percentiles (the basis of precision choice)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def cpu_session(path: str | Path, threads: int):
    """An ONNX Runtime session on the CPU provider with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure_latencies(paths: Mapping[str, str | Path], shape: tuple[int, ...], runs: int = 50,
                      warmup: int = 5, threads: int = 2) -> dict[str, dict[str, Any]]:
    """Median and p90 milliseconds of ``session.run`` for each model, on the same input.

    The models take turns run by run, so that a load change on a shared machine hits every
    candidate alike instead of favouring whichever happened to run in a quiet moment. Times
    are ``perf_counter_ns`` around each run; a dynamic batch must be given concretely.
    """
    sessions = {key: cpu_session(path, threads) for key, path in paths.items()}
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    feeds = {key: {s.get_inputs()[0].name: x} for key, s in sessions.items()}
    for key, session in sessions.items():
        for _ in range(warmup):
            session.run(None, feeds[key])
    times: dict[str, list[float]] = {key: [] for key in sessions}
    for _ in range(runs):
        for key, session in sessions.items():
            t0 = time.perf_counter_ns()
            session.run(None, feeds[key])
            times[key].append((time.perf_counter_ns() - t0) / 1e6)
    return {key: {"p50_ms": float(np.percentile(t, 50)), "p90_ms": float(np.percentile(t, 90)),
                  "runs": runs, "threads": threads, "shape": list(shape)}
            for key, t in times.items()}


def measure_latency(path: str | Path, shape: tuple[int, ...], runs: int = 50, warmup: int = 5,
                    threads: int = 2) -> dict[str, Any]:
    """:func:`measure_latencies` for a single model."""
    return measure_latencies({"model": path}, shape, runs, warmup, threads)["model"]
