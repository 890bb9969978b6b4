"""CPU latency of an ONNX file under ONNX Runtime, as percentiles (the basis of precision choice)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def measure_latency(path: str | Path, shape: tuple[int, ...], runs: int = 50, warmup: int = 5,
                    threads: int = 2) -> dict[str, float]:
    """Median and p90 milliseconds of ``session.run`` on random input of ``shape``.

    Uses ``perf_counter_ns`` around each run; a dynamic batch must be given concretely.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(warmup):
        session.run(None, {name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        session.run(None, {name: x})
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return {"p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
            "runs": runs, "threads": threads}
