"""Result dataclasses refuse malformed fields with a message naming them."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk import FrameResult, Lesion, ResultError, StageLatency

GOOD = {"bbox": (1, 2, 10, 12), "crop_box": (0, 1, 11, 13), "area_px": 50, "seg_score": 0.9,
            "malignancy": 0.3, "label": "benign"}


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"bbox": (10, 2, 1, 12)}, "Lesion.bbox"),
        ({"crop_box": (0, 1, 11)}, "Lesion.crop_box"),
        ({"area_px": 0}, "area_px"),
        ({"malignancy": 1.2}, "malignancy"),
        ({"seg_score": -0.1}, "seg_score"),
    ],
)
def test_lesion_checks(changes: dict, match: str) -> None:
    with pytest.raises(ResultError, match=match):
        Lesion(**{**GOOD, **changes})


@pytest.mark.parametrize(
    ("mask", "lesions", "match"),
    [
        (np.zeros((20, 20, 1), np.uint8), [], "HxW"),
        (np.zeros((20, 20), bool), [], "uint8"),
        (np.zeros((10, 10), np.uint8), [Lesion(**GOOD)], "outside the 10x10 frame"),
    ],
)
def test_frame_result_checks(mask: np.ndarray, lesions: list, match: str) -> None:
    with pytest.raises(ResultError, match=match):
        FrameResult(0, 0.0, mask, lesions, StageLatency())


def test_latency_checks_and_dict() -> None:
    with pytest.raises(ResultError, match="StageLatency.segment"):
        StageLatency(segment=float("nan"))
    result = FrameResult(3, 1.0, np.zeros((20, 20), np.uint8), [Lesion(**GOOD)], StageLatency(total=1.5))
    data = result.to_dict()
    assert data["malignancy"] == 0.3 and data["frame_hw"] == [20, 20] and data["latency_ms"]["total"] == 1.5
