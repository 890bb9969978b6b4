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

from edge_sdk.pipeline import sigmoid

DEFAULT_MAX_SHIFT = 0.05


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
    from export.onnx_export import run_onnx

    batch = np.ascontiguousarray(np.stack(list(inputs)), dtype=np.float32)
    ref, got = (run_onnx(path, batch, threads).astype(np.float32)
                for path in (reference, candidate))
    if meaning.endswith("logit"):
        ref, got = sigmoid(ref), sigmoid(got)  # the runtime's own
    shifts = np.abs(ref - got).reshape(len(batch), -1).mean(axis=1)
    return {"samples": len(shifts), "mean": float(shifts.mean()),
            "p95": float(np.percentile(shifts, 95)), "max": float(shifts.max())}
