"""The accuracy gate: a converted bundle may lose at most ``max_drop`` of any gated metric.

Both bundles are evaluated on the val split by :func:`edge_sdk.evaluate.evaluate`, the code
behind ``edge-sdk eval``, so the gate and the reported numbers cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_sdk.dataset import load_samples
from edge_sdk.evaluate import evaluate
from edge_sdk.pipeline import Pipeline
from export.errors import GateError

DEFAULT_MAX_DROP = 0.01
GATED_METRICS = ("dice", "auc")


def evaluate_bundle(bundle: str | Path, data: str | Path, split: str = "val",
                    threads: int = 2, progress: bool = False) -> dict[str, Any]:
    """Evaluate a bundle on one split with ONNX Runtime on the CPU."""
    samples = load_samples(data, split)
    options = {"threads": threads, "providers": ["CPUExecutionProvider"]}
    with Pipeline(bundle, backend="onnxruntime", backend_options=options) as pipeline:
        return evaluate(pipeline, samples, progress=progress)


def compare(reference: dict[str, Any], converted: dict[str, Any],
            max_drop: float = DEFAULT_MAX_DROP,
            metrics: Sequence[str] = GATED_METRICS) -> dict[str, Any]:
    """Drops of ``converted`` against ``reference``; raises when one exceeds ``max_drop``.

    Returns:
        ``{"max_drop": .., "metrics": {m: {"reference", "converted", "drop"}}, "passed": True}``

    Raises:
        GateError: naming every metric whose drop exceeds ``max_drop``, and by how much.
    """
    result: dict[str, Any] = {"max_drop": max_drop, "metrics": {}, "passed": True}
    failures = []
    for metric in metrics:
        ref, got = reference.get(metric), converted.get(metric)
        if ref is None or got is None:
            raise GateError(f"gate: metric {metric!r} is undefined (reference {ref}, converted "
                            f"{got}); the gate split needs benign and malignant images")
        drop = float(ref) - float(got)
        result["metrics"][metric] = {"reference": ref, "converted": got, "drop": drop}
        if drop > max_drop:
            failures.append(f"{metric} dropped by {drop:.4f} ({ref:.4f} -> {got:.4f})")
    if failures:
        result["passed"] = False
        raise GateError(f"accuracy gate failed: {'; '.join(failures)}; allowed drop {max_drop}. "
                        "Fix: calibrate on more/other frames, keep that net at higher precision "
                        "(--segmenter-precision/--classifier-precision), or loosen --max-drop",
                        result)
    return result
