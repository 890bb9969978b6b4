"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_sdk import ConfigError
from edge_sdk.metrics import binary_metrics, bootstrap_ci, dice_iou, roc_auc


@pytest.mark.parametrize(
    ("pred", "gt", "dice", "iou"),
    [
        # 4 predicted, 6 true, 3 shared: dice = 6/10, iou = 3/7
        ([1, 1, 1, 1, 0, 0, 0, 0], [0, 1, 1, 1, 1, 1, 1, 0], 0.6, 3 / 7),
        ([1, 1, 0, 0], [1, 1, 0, 0], 1.0, 1.0),
        ([0, 0, 0, 0], [1, 1, 0, 0], 0.0, 0.0),  # missed lesion scores 0
        ([0, 0, 0, 0], [0, 0, 0, 0], 1.0, 1.0),  # both empty agree
    ],
)
def test_dice_iou(pred, gt, dice, iou) -> None:
    got = dice_iou(np.array(pred, np.uint8).reshape(2, -1), np.array(gt, np.uint8).reshape(2, -1))
    assert got == pytest.approx((dice, iou))


def test_dice_shape_mismatch() -> None:
    with pytest.raises(ConfigError, match="shape"):
        dice_iou(np.zeros((2, 2)), np.zeros((3, 3)))


def test_roc_auc_hand_computed() -> None:
    # positive/negative pairs: (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3 of 4 ordered
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.3, 0.3]) == pytest.approx(0.5)  # ties count half
    assert math.isnan(roc_auc([1, 1], [0.2, 0.9]))


def test_binary_metrics_hand_computed() -> None:
    # scores >= 0.5 -> predicted malignant: tp=2 (0.9, 0.5), fn=1 (0.2), fp=1 (0.7), tn=2
    got = binary_metrics([1, 1, 1, 0, 0, 0], [0.9, 0.5, 0.2, 0.7, 0.1, 0.3], 0.5)
    assert got == pytest.approx({"sensitivity": 2 / 3, "specificity": 2 / 3, "f1": 4 / 6})


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_data() -> None:
    rng = np.random.default_rng(3)
    small, large = rng.random(30), rng.random(600)
    lo_s, hi_s = bootstrap_ci(lambda x: float(np.mean(x)), small)
    lo_l, hi_l = bootstrap_ci(lambda x: float(np.mean(x)), large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 2  # ~sqrt(20) narrower
    assert bootstrap_ci(lambda x: float(np.mean(x)), small) == (lo_s, hi_s)  # seeded


def test_bootstrap_auc_pairs_rows_and_skips_one_class_draws() -> None:
    y, scores = [1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.4, 0.5, 0.2, 0.1]
    low, high = bootstrap_ci(roc_auc, y, scores, resamples=500)
    assert 0.0 <= low <= roc_auc(y, scores) <= high == 1.0
    # a perfect ranking stays perfect in every resample that has both classes
    assert bootstrap_ci(roc_auc, [1, 0], [0.9, 0.1], resamples=200) == (1.0, 1.0)
    assert bootstrap_ci(roc_auc, [1, 1], [0.9, 0.1]) is None  # never two classes
    assert bootstrap_ci(roc_auc, [], []) is None
