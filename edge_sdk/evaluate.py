"""Evaluate a pipeline on dataset samples (``edge-sdk eval``; the toolchain's accuracy gate)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.dataset import Sample, read_gray, read_mask
from edge_sdk.errors import DatasetError
from edge_sdk.metrics import (
    BOOTSTRAP_RESAMPLES,
    binary_metrics,
    bootstrap_ci,
    dice_iou,
    roc_auc,
)
from edge_sdk.pipeline import Pipeline
from edge_sdk.results import STAGES

METRIC_KEYS = ("dice", "iou", "auc", "sensitivity", "specificity", "f1", "normal_fp_rate")


def _progress(samples: Sequence[Sample], enabled: bool) -> Iterable[Sample]:
    if not enabled:
        return samples
    tqdm = import_optional("tqdm", "eval", "The evaluation progress bar").tqdm
    return tqdm(samples, desc="eval", unit="img", dynamic_ncols=True)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate(pipeline: Pipeline, samples: Sequence[Sample], progress: bool = True,
             intervals: bool = False) -> dict[str, Any]:
    """Run every sample through ``pipeline`` and compute the metrics of :mod:`edge_sdk.metrics`.

    Args:
        pipeline: An open pipeline.
        samples: Dataset samples (e.g. ``load_samples(root, "test")``, or the good rows of
            :func:`edge_sdk.dataset.scan_samples`).
        progress: Show a tqdm progress bar on stderr.
        intervals: Add ``ci95``, bootstrap intervals of ``dice`` and ``auc`` (a few seconds;
            ``edge-sdk eval`` asks for them, the toolchain's many searches do not).

    Returns:
        A JSON-ready dict: ``dice``, ``iou``, ``auc``, ``sensitivity``, ``specificity``, ``f1``,
        ``normal_fp_rate``, ``n_benign``, ``n_malignant``, ``n_normal``, ``n_images``,
        ``decision_threshold``, ``bundle_digest``, ``bundle_name``, ``latency_ms`` (mean per
        stage), and with ``intervals`` ``ci95`` (``{"dice": [low, high], "auc": ...}``). A
        metric with no images to define it is ``None``.
    """
    dice, iou, y_true, scores = [], [], [], []
    normal_flags = []
    latency: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for sample in _progress(samples, progress):
        result = pipeline.process(read_gray(sample.image_path))
        for stage in STAGES:
            latency[stage].append(getattr(result.latency_ms, stage))
        if sample.label == "normal":
            normal_flags.append(bool(result.lesions))
            continue
        truth = read_mask(sample.mask_path)
        if truth.shape != result.mask.shape:
            raise DatasetError(
                f"dataset: the mask of {sample.id} is {truth.shape[1]}x{truth.shape[0]}, its image "
                f"{result.mask.shape[1]}x{result.mask.shape[0]}; expected the same size. Fix: "
                "replace the mask, or leave the row out (edge-sdk eval --skip-bad)")
        d, i = dice_iou(result.mask, truth)
        dice.append(d)
        iou.append(i)
        y_true.append(1 if sample.label == "malignant" else 0)
        scores.append(result.malignancy)
    threshold = pipeline.params.decision_threshold
    report: dict[str, Any] = {
        "dice": _mean(dice),
        "iou": _mean(iou),
        "auc": roc_auc(y_true, scores) if y_true else float("nan"),
        **(binary_metrics(y_true, scores, threshold) if y_true else
           {"sensitivity": math.nan, "specificity": math.nan, "f1": math.nan}),
        "normal_fp_rate": _mean([float(f) for f in normal_flags]),
    }
    report = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in report.items()}
    report.update(
        n_benign=sum(1 for s in samples if s.label == "benign"),
        n_malignant=sum(1 for s in samples if s.label == "malignant"),
        n_normal=sum(1 for s in samples if s.label == "normal"),
        n_images=len(samples),
        decision_threshold=threshold,
        bundle_name=pipeline.bundle.manifest.name,
        bundle_digest=pipeline.bundle.digest,
        latency_ms={stage: _mean(v) for stage, v in latency.items()},
    )
    if intervals:
        report["ci95"] = _intervals(dice, y_true, scores)
    return report


def rank_auc(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """ROC AUC from average ranks (Mann-Whitney U), the value scikit-learn's ``roc_auc_score``
    gives, ties included, at a fraction of its per-call cost; NaN with one class only.

    The bootstrap calls it 2000 times per report, where scikit-learn's input checks dominated.

    Example:
        >>> rank_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    y = np.asarray(y_true).astype(bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    _, inverse, counts = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True,
                                   return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based, ties averaged
    return float((ranks[y].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def _intervals(dice: list[float], y_true: list[int], scores: list[float]
               ) -> dict[str, Any]:
    def interval(bounds: tuple[float, float] | None) -> list[float] | None:
        return None if bounds is None else [round(b, 4) for b in bounds]

    return {"dice": interval(bootstrap_ci(lambda d: float(np.mean(d)), dice)),
            "auc": interval(bootstrap_ci(rank_auc, y_true, scores)),
            "method": f"percentile bootstrap over images, {BOOTSTRAP_RESAMPLES} resamples, "
                      "seed 0"}
