"""Evaluation metrics, shared by ``edge-sdk eval`` and the export toolchain's accuracy gate.

Definitions (also in the README):

- ``dice`` = 2|P∩G| / (|P|+|G|), ``iou`` = |P∩G| / |P∪G|, per image at original resolution,
  averaged over images whose ground truth has a lesion; an empty prediction scores 0.
- ``auc``: ROC AUC of the image-level malignancy score over benign (0) vs malignant (1) images.
- ``sensitivity``, ``specificity``, ``f1``: malignant is positive, predicted positive when the
  score is ≥ the decision threshold.
- ``ci95``: percentile-bootstrap 95 % intervals of ``dice`` and ``auc`` over images (how far a
  split of this size lets the numbers move; BUSI's val and test splits have ~100 lesion images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.errors import ConfigError


def dice_iou(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """Dice and IoU of two binary masks of the same shape.

    Two empty masks agree perfectly (1.0, 1.0).

    Example:
        >>> import numpy as np
        >>> a = np.array([[1, 1, 0, 0]]); b = np.array([[0, 1, 1, 0]])
        >>> dice_iou(a, b)
        (0.5, 0.3333333333333333)
    """
    if pred.shape != gt.shape:
        raise ConfigError(f"dice_iou: prediction shape {pred.shape} != ground truth {gt.shape}")
    p, g = pred.astype(bool), gt.astype(bool)
    inter = int(np.count_nonzero(p & g))
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(g))
    union = total - inter
    if total == 0:
        return 1.0, 1.0
    return 2.0 * inter / total, inter / union


def roc_auc(y_true: Sequence[int], scores: Sequence[float]) -> float:
    """ROC AUC (scikit-learn's ``roc_auc_score``); NaN when only one class is present."""
    y = np.asarray(y_true)
    if len(np.unique(y)) < 2:
        return float("nan")
    sklearn_metrics = import_optional("sklearn.metrics", "eval", "Computing the ROC AUC")
    return float(sklearn_metrics.roc_auc_score(y, np.asarray(scores, dtype=np.float64)))


def binary_metrics(y_true: Sequence[int], scores: Sequence[float],
                   threshold: float) -> dict[str, float]:
    """Sensitivity, specificity and F1 with positives predicted at ``score >= threshold``.

    Example:
        >>> binary_metrics([1, 1, 0, 0], [0.9, 0.2, 0.6, 0.1], 0.5)
        {'sensitivity': 0.5, 'specificity': 0.5, 'f1': 0.5}
    """
    y = np.asarray(y_true).astype(bool)
    pred = np.asarray(scores, dtype=np.float64) >= threshold
    tp = int(np.count_nonzero(pred & y))
    fp = int(np.count_nonzero(pred & ~y))
    fn = int(np.count_nonzero(~pred & y))
    tn = int(np.count_nonzero(~pred & ~y))
    sensitivity = tp / (tp + fn) if tp + fn else float("nan")
    specificity = tn / (tn + fp) if tn + fp else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"sensitivity": sensitivity, "specificity": specificity, "f1": f1}


BOOTSTRAP_RESAMPLES = 2000


def bootstrap_ci(statistic: Callable[..., float], *columns: Sequence[float],
                 confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of ``statistic(*columns)``, resampling rows with replacement.

    The columns are paired (row ``i`` of each belongs to one image). Resamples where the
    statistic is undefined (NaN, e.g. an AUC drawn with one class only) are dropped. Seeded,
    so a report is reproducible.

    Returns:
        ``(low, high)``, or ``None`` when there are no rows or no defined resample.

    Example:
        >>> low, high = bootstrap_ci(lambda x: float(np.mean(x)), [0.0, 1.0] * 50)
        >>> bool(0.35 < low < 0.5 < high < 0.65)
        True
    """
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    n = len(arrays[0]) if arrays else 0
    if n == 0 or any(len(a) != n for a in arrays):
        return None
    rng = np.random.default_rng(seed)
    values = np.array([statistic(*(a[rows] for a in arrays))
                       for rows in rng.integers(0, n, size=(resamples, n))])
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)
