"""The accuracy gate: a converted bundle may lose at most ``max_drop`` of any gated metric.

Both bundles are evaluated on the val split by :func:`edge_sdk.evaluate.evaluate`, the code
behind ``edge-sdk eval``, so the gate and the reported numbers cannot disagree. With several
datasets each is evaluated on its own and the gate holds for every one of them and for their
mean (a conversion must not trade one scanner's accuracy for another's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edge_sdk.dataset import Sample, load_samples
from edge_sdk.evaluate import evaluate
from edge_sdk.pipeline import Pipeline
from export.data import dataset_name, dataset_roots
from export.errors import GateError

DEFAULT_MAX_DROP = 0.01
GATED_METRICS = ("dice", "auc")
# metrics averaged over datasets (each dataset, i.e. each group of scanners, weighs the same)
MEAN_METRICS = ("dice", "iou", "auc", "sensitivity", "specificity", "f1", "normal_fp_rate")


def samples_by_dataset(data: str | Path, split: str = "val") -> dict[str, list[Sample]]:
    """One split of every dataset of ``data``, by dataset name (read once, evaluated often)."""
    return {dataset_name(root): load_samples(root, split) for root in dataset_roots(data)}


def evaluate_datasets(pipeline: Pipeline, samples: Mapping[str, Sequence[Sample]],
                      progress: bool = False) -> dict[str, Any]:
    """Evaluate an open pipeline on the samples of every dataset (:func:`samples_by_dataset`).

    Returns:
        With one dataset, its :func:`edge_sdk.evaluate.evaluate` report. With several, the mean
        over datasets of each of :data:`MEAN_METRICS` (``None`` where no dataset defines it)
        and ``per_dataset``: each dataset's own report by name.
    """
    reports = {name: evaluate(pipeline, items, progress=progress)
               for name, items in samples.items()}
    if len(reports) == 1:
        return next(iter(reports.values()))
    merged: dict[str, Any] = {}
    for metric in MEAN_METRICS:
        values = [r[metric] for r in reports.values() if r.get(metric) is not None]
        merged[metric] = float(sum(values) / len(values)) if values else None
    merged["per_dataset"] = reports
    merged["mean_over"] = sorted(reports)
    first = next(iter(reports.values()))
    merged.update(decision_threshold=first["decision_threshold"],
                  bundle_name=first["bundle_name"], bundle_digest=first["bundle_digest"])
    return merged


def evaluate_bundle(bundle: str | Path, data: str | Path, split: str = "val",
                    threads: int = 2, progress: bool = False) -> dict[str, Any]:
    """Evaluate a bundle on one split (of each dataset) with ONNX Runtime on the CPU."""
    options = {"threads": threads, "providers": ["CPUExecutionProvider"]}
    with Pipeline(bundle, backend="onnxruntime", backend_options=options) as pipeline:
        return evaluate_datasets(pipeline, samples_by_dataset(data, split), progress)


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
    scopes = [("", reference, converted)] + [
        (f"{name}.", reference["per_dataset"][name], converted["per_dataset"][name])
        for name in sorted(reference.get("per_dataset", {}))]
    for prefix, ref_report, got_report in scopes:
        for metric in metrics:
            ref, got = ref_report.get(metric), got_report.get(metric)
            if ref is None or got is None:
                raise GateError(f"gate: metric {prefix}{metric!r} is undefined (reference {ref}, "
                                f"converted {got}); the gate split needs benign and malignant "
                                "images. Fix: gate on a split with both")
            drop = float(ref) - float(got)
            result["metrics"][prefix + metric] = {"reference": ref, "converted": got,
                                                  "drop": drop}
            if drop > max_drop:
                failures.append(f"{prefix}{metric} dropped by {drop:.4f} "
                                f"({ref:.4f} -> {got:.4f})")
    if failures:
        result["passed"] = False
        raise GateError(f"accuracy gate failed: {'; '.join(failures)}; allowed drop {max_drop}. "
                        "Fix: calibrate on more/other frames, keep that net at higher precision "
                        "(--segmenter-precision/--classifier-precision), or loosen --max-drop",
                        result)
    return result
