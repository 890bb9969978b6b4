"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_sdk import ConfigError
from edge_sdk.metrics import binary_metrics, dice_iou, roc_auc


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
