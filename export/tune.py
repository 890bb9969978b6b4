"""Choose the pipeline parameters between the nets on the val split (never on test).

The nets are fixed; only the post-processing changes: segmentation threshold, smallest lesion
kept, how many lesions are kept, and the malignancy decision threshold. Every candidate is
scored by :func:`edge_sdk.evaluate.evaluate`, the code behind ``edge-sdk eval``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_sdk.dataset import load_samples
from edge_sdk.evaluate import evaluate
from edge_sdk.manifest import PipelineParams
from edge_sdk.pipeline import Pipeline

SEG_THRESHOLDS = (0.4, 0.5, 0.6)
MIN_AREA_FRACTIONS = (0.001, 0.005)
MAX_LESIONS = (1, 2, 4)
DECISION_THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(1, 10))


def tune_params(bundle: str | Path, data: str | Path, split: str = "val",
                base: PipelineParams = PipelineParams(),
                seg_thresholds: Sequence[float] = SEG_THRESHOLDS,
                min_area_fractions: Sequence[float] = MIN_AREA_FRACTIONS,
                max_lesions: Sequence[int] = MAX_LESIONS,
                decision_thresholds: Sequence[float] = DECISION_THRESHOLDS,
                threads: int = 2) -> tuple[PipelineParams, dict[str, Any]]:
    """Grid-search the post-processing on ``split``.

    First the segmentation settings, by Dice + AUC (both depend on which regions are kept);
    then the decision threshold, by sensitivity + specificity (Youden's J).

    Returns:
        The chosen parameters and a record of the search (for the manifest's provenance).
    """
    samples = load_samples(data, split)
    options = {"threads": threads, "providers": ["CPUExecutionProvider"]}
    trials = []
    with Pipeline(bundle, backend_options=options) as pipeline:
        for threshold, area, keep in itertools.product(seg_thresholds, min_area_fractions,
                                                       max_lesions):
            params = dataclasses.replace(base, segmentation_threshold=threshold,
                                         min_lesion_area_fraction=area, max_lesions=keep)
            pipeline.params = params
            report = evaluate(pipeline, samples, progress=False)
            score = (report["dice"] or 0.0) + (report["auc"] or 0.0)
            trials.append({"segmentation_threshold": threshold, "min_lesion_area_fraction": area,
                           "max_lesions": keep, "dice": report["dice"], "auc": report["auc"],
                           "score": score})
        best = max(trials, key=lambda t: t["score"])
        chosen = dataclasses.replace(
            base, segmentation_threshold=best["segmentation_threshold"],
            min_lesion_area_fraction=best["min_lesion_area_fraction"],
            max_lesions=best["max_lesions"])
        decisions = []
        for threshold in decision_thresholds:
            pipeline.params = dataclasses.replace(chosen, decision_threshold=threshold)
            report = evaluate(pipeline, samples, progress=False)
            youden = (report["sensitivity"] or 0.0) + (report["specificity"] or 0.0) - 1.0
            decisions.append({"decision_threshold": threshold, "youden_j": youden,
                              "sensitivity": report["sensitivity"],
                              "specificity": report["specificity"]})
    best_decision = max(decisions, key=lambda d: d["youden_j"])
    chosen = dataclasses.replace(chosen, decision_threshold=best_decision["decision_threshold"])
    return chosen, {"split": split, "rule": "max dice+auc, then max Youden J",
                    "segmentation_trials": trials, "decision_trials": decisions,
                    "chosen": chosen.to_dict()}
