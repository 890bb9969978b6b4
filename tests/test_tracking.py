from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import ConfigError
from edge_sdk.manifest import PipelineParams
from edge_sdk.results import FrameResult, Lesion, StageLatency
from edge_sdk.tracking import TemporalSmoother, box_iou


def result(index: int, boxes_scores: list[tuple[tuple[int, int, int, int], float]]) -> FrameResult:
    mask = np.zeros((100, 100), np.uint8)
    lesions = []
    for (x0, y0, x1, y1), score in boxes_scores:
        mask[y0:y1, x0:x1] = 1
        lesions.append(Lesion((x0, y0, x1, y1), (x0, y0, x1, y1), (x1 - x0) * (y1 - y0), 0.9,
                              score, "malignant" if score >= 0.5 else "benign"))
    return FrameResult(index, float(index), mask, lesions, StageLatency())


def test_a_lesion_is_reported_after_k_frames_with_smoothed_malignancy():
    smoother = TemporalSmoother(PipelineParams(), min_frames=3, alpha=0.5)
    scores = [0.9, 0.1, 0.9, 0.1]
    out = [smoother.update(result(i, [((10 + i, 10, 30 + i, 30), s)])) for i, s in enumerate(scores)]
    assert [len(r.lesions) for r in out] == [0, 0, 1, 1]
    assert out[0].mask.sum() == 0 and out[2].mask.sum() > 0  # the mask follows the report
    assert out[2].lesions[0].malignancy == pytest.approx(0.7)  # 0.9 → 0.5 → 0.7
    assert out[3].lesions[0].malignancy == pytest.approx(0.4)
    assert out[3].lesions[0].label == "benign"
    assert out[0].extras["tracking"] == {"track_ids": [], "pending": 1}
    assert out[2].extras["tracking"]["track_ids"] == out[3].extras["tracking"]["track_ids"]


def test_a_one_frame_flicker_is_never_reported_and_two_lesions_keep_their_tracks():
    smoother = TemporalSmoother(PipelineParams(), min_frames=2)
    a, b, flicker = ((10, 10, 30, 30), 0.8), ((60, 60, 80, 80), 0.2), ((40, 5, 50, 15), 0.9)
    frames = [[a, b], [b, a, flicker], [a, b]]
    out = [smoother.update(result(i, f)) for i, f in enumerate(frames)]
    assert [len(r.lesions) for r in out] == [0, 2, 2]
    assert out[1].extras["tracking"]["pending"] == 1
    ids_1 = dict(zip([l.bbox for l in out[1].lesions], out[1].extras["tracking"]["track_ids"]))
    ids_2 = dict(zip([l.bbox for l in out[2].lesions], out[2].extras["tracking"]["track_ids"]))
    assert ids_1 == ids_2


def test_a_missed_frame_resets_the_streak():
    smoother = TemporalSmoother(PipelineParams(), min_frames=2, max_missed=2)
    box = ((10, 10, 30, 30), 0.8)
    counts = [len(smoother.update(result(i, f)).lesions)
              for i, f in enumerate([[box], [box], [], [box], [box]])]
    assert counts == [0, 1, 0, 0, 1]


@pytest.mark.parametrize("kwargs", [{"min_frames": 0}, {"alpha": 0.0}, {"iou_threshold": 1.5},
                                    {"max_missed": -1}])
def test_bad_settings(kwargs):
    with pytest.raises(ConfigError, match="expected min_frames >= 1"):
        TemporalSmoother(PipelineParams(), **kwargs)


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
