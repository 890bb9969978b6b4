"""Choose the pipeline parameters between the nets on the val split (never on test).

The nets are fixed; only the post-processing changes: segmentation threshold, smallest lesion
kept, the least peak probability of a lesion, how many lesions are kept, mirror test-time
augmentation of each net, and the malignancy decision threshold; and whether a frame with no
lesion gets the score of its most suspicious area. Every candidate is scored by :func:`edge_sdk.evaluate.evaluate`, the code
behind ``edge-sdk eval``; the segmenter's output for each image is computed once and reused
by every candidate (only the steps after it change).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from edge_sdk.backends import Backend
from edge_sdk.manifest import PipelineParams
from edge_sdk.pipeline import Pipeline
from export.gate import evaluate_datasets, samples_by_dataset

SEG_THRESHOLDS = (0.4, 0.5, 0.6)
MIN_AREA_FRACTIONS = (0.001, 0.005, 0.01)
MAX_LESIONS = (1, 2, 4)
MIN_LESION_PEAKS = (0.0, 0.9, 0.95)
DECISION_THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(1, 10))
# a mirror pass costs a second segmenter call (or twice the classifier batch): keep it only
# when it buys at least this much val Dice + AUC
MIN_TTA_GAIN = 0.005
# a lesion marked on a normal frame is a false alarm a user sees on every healthy scan: the
# search pays for it (normal-frame false-positive rate, where the val split has normal frames)
NORMAL_FP_WEIGHT = 0.5


def tune_params(bundle: str | Path, data: str | Path, split: str = "val",
                base: PipelineParams = PipelineParams(),
                seg_thresholds: Sequence[float] = SEG_THRESHOLDS,
                min_area_fractions: Sequence[float] = MIN_AREA_FRACTIONS,
                max_lesions: Sequence[int] = MAX_LESIONS,
                min_lesion_peaks: Sequence[float] = MIN_LESION_PEAKS,
                decision_thresholds: Sequence[float] = DECISION_THRESHOLDS,
                threads: int = 2, tta: bool = True,
                min_tta_gain: float = MIN_TTA_GAIN) -> tuple[PipelineParams, dict[str, Any]]:
    """Grid-search the post-processing on ``split``.

    First the segmentation settings, by Dice + AUC − ``NORMAL_FP_WEIGHT`` × the normal-frame
    false-positive rate (all depend on which regions are kept; means over the datasets of
    ``data``),
    with ``tta`` once without and once with the segmenter's mirror pass; then, with ``tta``,
    the classifier's mirror pass. A mirror pass is kept only when it raises Dice + AUC by
    ``min_tta_gain`` (it costs latency); so is ``no_lesion_score: peak_region``. Last the
    decision threshold, by sensitivity + specificity (Youden's J).

    Returns:
        The chosen parameters and a record of the search (for the manifest's provenance).
    """
    samples = samples_by_dataset(data, split)
    options = {"threads": threads, "providers": ["CPUExecutionProvider"]}
    trials = []
    # the mirror pass softens the probability map, so it gets its own threshold search
    segmenter_flips = (False, True) if tta else (False,)
    with Pipeline(bundle, backend_options=options) as pipeline:
        pipeline.segmenter = cast(Backend, _OutputMemo(pipeline.segmenter))
        for flip, threshold, area, peak, keep in itertools.product(
                segmenter_flips, seg_thresholds, min_area_fractions, min_lesion_peaks,
                max_lesions):
            params = dataclasses.replace(base, segmentation_threshold=threshold,
                                         min_lesion_area_fraction=area, max_lesions=keep,
                                         min_lesion_peak=peak, segmenter_hflip=flip)
            trials.append({"segmenter_hflip": flip, "segmentation_threshold": threshold,
                           "min_lesion_area_fraction": area, "min_lesion_peak": peak,
                           "max_lesions": keep, **_score(pipeline, params, samples)})
        best = max((t for t in trials if not t["segmenter_hflip"]), key=lambda t: t["score"])
        if tta:
            mirrored = max((t for t in trials if t["segmenter_hflip"]),
                           key=lambda t: t["score"])
            if mirrored["score"] >= best["score"] + min_tta_gain:
                best = mirrored
        chosen = dataclasses.replace(
            base, segmentation_threshold=best["segmentation_threshold"],
            min_lesion_area_fraction=best["min_lesion_area_fraction"],
            min_lesion_peak=best["min_lesion_peak"], max_lesions=best["max_lesions"],
            segmenter_hflip=best["segmenter_hflip"])
        tta_trials = []
        if tta:
            candidate = dataclasses.replace(chosen, classifier_hflip=True)
            trial = {"classifier_hflip": True, **_score(pipeline, candidate, samples)}
            trial["kept"] = trial["score"] >= best["score"] + min_tta_gain
            tta_trials.append(trial)
            if trial["kept"]:
                chosen = candidate
                best = {**best, **trial}
        # a frame with no region scores 0 unless the area around its peak is classified;
        # it moves only the AUC (no lesion is reported), kept when it adds as much as a mirror
        candidate = dataclasses.replace(chosen, no_lesion_score="peak_region")
        score_trial = {"no_lesion_score": "peak_region", **_score(pipeline, candidate, samples)}
        score_trial["kept"] = score_trial["score"] >= best["score"] + min_tta_gain
        if score_trial["kept"]:
            chosen = candidate
        decisions = []
        for threshold in decision_thresholds:
            pipeline.params = dataclasses.replace(chosen, decision_threshold=threshold)
            report = evaluate_datasets(pipeline, samples)
            youden = (report["sensitivity"] or 0.0) + (report["specificity"] or 0.0) - 1.0
            decisions.append({"decision_threshold": threshold, "youden_j": youden,
                              "sensitivity": report["sensitivity"],
                              "specificity": report["specificity"]})
    best_decision = max(decisions, key=lambda d: d["youden_j"])
    chosen = dataclasses.replace(chosen, decision_threshold=best_decision["decision_threshold"])
    return chosen, {"split": split,
                    "rule": f"max dice+auc-{NORMAL_FP_WEIGHT}*normal_fp_rate (means over "
                            f"datasets); mirror passes kept when they add >= {min_tta_gain}; "
                            "then max Youden J",
                    "segmentation_trials": trials, "tta_trials": tta_trials,
                    "no_lesion_score_trials": [score_trial],
                    "decision_trials": decisions, "chosen": chosen.to_dict()}


def _score(pipeline: Pipeline, params: PipelineParams, samples: Any) -> dict[str, Any]:
    pipeline.params = params
    report = evaluate_datasets(pipeline, samples)
    normal_fp = report.get("normal_fp_rate")
    return {"dice": report["dice"], "auc": report["auc"], "normal_fp_rate": normal_fp,
            "score": (report["dice"] or 0.0) + (report["auc"] or 0.0)
            - NORMAL_FP_WEIGHT * (normal_fp or 0.0)}


class _OutputMemo:
    """A runner that answers an input it has seen with the outputs it gave then.

    The candidates differ only after the segmenter, so each val image's map is computed once
    instead of once per candidate. Outputs are handed out read-only: a step that wrote into one
    would change every later candidate's input.
    """

    def __init__(self, runner: Any) -> None:
        self._runner = runner
        self._seen: dict[bytes, dict[str, np.ndarray]] = {}

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        digest = hashlib.blake2b(digest_size=16)
        for name in sorted(feeds):
            array = np.ascontiguousarray(feeds[name])
            digest.update(f"{name}{array.dtype}{array.shape}".encode())
            digest.update(array.data)
        key = digest.digest()
        if key not in self._seen:
            outputs = {name: np.array(value, copy=True)
                       for name, value in self._runner.infer(feeds).items()}
            for value in outputs.values():
                value.setflags(write=False)
            self._seen[key] = outputs
        return self._seen[key]

    def __getattr__(self, name: str) -> Any:  # activate, deactivate, the runner's facts
        return getattr(self._runner, name)
