"""Per-net output fidelity: how far a converted ONNX file's probabilities move from fp32's.

The end-to-end gate (:mod:`export.gate`) compares val Dice and AUC, and both are coarse on a
split of ~100 images: AUC only sees the order of the malignant and benign scores, so an INT8
classifier can shift scores by 0.2 and pass on val, then lose AUC on test. This check looks at
every val input instead: per sample, the mean absolute difference of the output probability
(per pixel for the segmenter, per crop for the classifier) against the fp32 export, and the
precision chooser only takes a conversion whose 95th percentile stays within a tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MAX_SHIFT = 0.05


def _probabilities(path: str | Path, inputs: Sequence[np.ndarray], meaning: str,
                   threads: int) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    out = []
    for x in inputs:
        y = np.asarray(session.run(None, {name: x[None].astype(np.float32)})[0], np.float32)
        out.append(1.0 / (1.0 + np.exp(-y)) if meaning.endswith("logit") else y)
    return out


def output_shift(reference: str | Path, candidate: str | Path, inputs: Sequence[np.ndarray],
                 meaning: str, threads: int = 2) -> dict[str, Any]:
    """Distribution over ``inputs`` of the per-sample mean |Δ probability| vs ``reference``.

    Args:
        reference: The fp32 ONNX file.
        candidate: Its conversion (same input and output names).
        inputs: C×H×W network inputs made by the runtime's code (frames or crops), one sample
            each (:func:`export.onnx_export.real_inputs`).
        meaning: The output's manifest meaning; ``*_logit`` outputs go through a sigmoid first.
        threads: ONNX Runtime intra-op threads.

    Returns:
        ``{"samples", "mean", "p95", "max"}`` of the per-sample shifts.
    """
    ref = _probabilities(reference, inputs, meaning, threads)
    got = _probabilities(candidate, inputs, meaning, threads)
    shifts = np.array([float(np.mean(np.abs(a - b))) for a, b in zip(ref, got)])
    return {"samples": len(shifts), "mean": float(shifts.mean()),
            "p95": float(np.percentile(shifts, 95)), "max": float(shifts.max())}
