"""The post-processing search: the grid it reports, what it keeps, and that each val image goes
through the segmenter once however many candidates are scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from edge_sdk.backends.onnxruntime_backend import OnnxRuntimeBackend
from export.tune import _OutputMemo, tune_params


def test_search_covers_the_peak_gate_and_segments_each_image_once(
        tiny_bundle_dir: Path, synthetic_busi: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    infer = OnnxRuntimeBackend.infer

    def counted(self, feeds):  # the real backend, its calls counted by input
        calls.append(next(iter(feeds)))
        return infer(self, feeds)

    monkeypatch.setattr(OnnxRuntimeBackend, "infer", counted)
    chosen, record = tune_params(tiny_bundle_dir, synthetic_busi, seg_thresholds=(0.5,),
                                 min_area_fractions=(0.001,), max_lesions=(1, 2),
                                 min_lesion_peaks=(0.0, 0.9), decision_thresholds=(0.5,),
                                 threads=1, tta=False)
    trials = record["segmentation_trials"]
    assert {(t["min_lesion_peak"], t["max_lesions"]) for t in trials} == {
        (0.0, 1), (0.0, 2), (0.9, 1), (0.9, 2)}
    assert chosen.min_lesion_peak in (0.0, 0.9)
    best = max(trials, key=lambda t: t["score"])
    assert (chosen.min_lesion_peak, chosen.max_lesions) == (best["min_lesion_peak"],
                                                           best["max_lesions"])
    images = sum(1 for line in (synthetic_busi / "splits.csv").read_text().splitlines()
                 if line.split(",")[2] == "val")
    segmenter_calls = calls.count("image")
    assert images > 0 and segmenter_calls == images  # four candidates, one pass


def test_memo_answers_a_repeated_input_read_only() -> None:
    class Doubling:
        calls = 0

        def infer(self, feeds):
            self.calls += 1
            return {"y": feeds["x"] * 2}

        def deactivate(self) -> None:
            self.closed = True

    runner = Doubling()
    memo = _OutputMemo(runner)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    first, again = memo.infer({"x": x})["y"], memo.infer({"x": x.copy()})["y"]
    assert runner.calls == 1 and np.array_equal(first, x * 2) and again is first
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0] = 1
    memo.infer({"x": x + 1})
    assert runner.calls == 2
    memo.deactivate()  # the runner's own methods pass through
    assert runner.closed
