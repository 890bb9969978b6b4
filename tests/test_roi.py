"""Regions found on the net-resolution map against the frame-resolution reference.

The reference is what the pipeline did before: resize the whole probability map to the frame
(bilinear), threshold, label, measure (:func:`edge_sdk.roi.find_regions`). The stated
tolerance: boxes within 2 px, masks with Dice >= 0.99, on random maps and on the shipped
bundle's segmentations of the BUSI val images.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.roi import _axis, find_regions, find_regions_net, paint_mask

BOX_TOLERANCE_PX = 2
MIN_DICE = 0.99


def _reference(prob: np.ndarray, frame_hw: tuple[int, int], threshold: float, min_area: int,
               keep: int) -> tuple[np.ndarray, list]:
    full = cv2.resize(prob, (frame_hw[1], frame_hw[0]), interpolation=cv2.INTER_LINEAR)
    labels, regions = find_regions(full, threshold, min_area)
    lut = np.zeros(int(labels.max()) + 1, np.uint8)
    for region in regions[:keep]:
        lut[region.label] = 1
    return lut[labels], regions[:keep]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def _compare(prob: np.ndarray, frame_hw: tuple[int, int], threshold: float,
             keep: int = 2) -> tuple[float, int]:
    """Dice of the two masks and the largest box difference; asserts the same region count."""
    min_area = max(1, math.ceil(0.001 * frame_hw[0] * frame_hw[1]))
    ref_mask, ref_regions = _reference(prob, frame_hw, threshold, min_area, keep)
    pieces = find_regions_net(prob, frame_hw, threshold, min_area)[:keep]
    mask = paint_mask(frame_hw, pieces)
    assert len(pieces) == len(ref_regions)
    worst = max((max(abs(a - b) for a, b in zip(p.region.bbox, r.bbox))
                 for p, r in zip(pieces, ref_regions)), default=0)
    return _dice(mask, ref_mask), worst


@pytest.mark.parametrize("src", [64, 256, 320])
@pytest.mark.parametrize("dst", [1, 7, 100, 256, 600, 1080])
def test_axis_matches_opencv_bilinear(src: int, dst: int) -> None:
    """The per-box upsampling samples exactly where cv2.resize(INTER_LINEAR) does."""
    row = np.random.default_rng(src + dst).random((1, src)).astype(np.float32)
    first, second, weight = _axis(src, dst)
    ours = row[0, first] * (1.0 - weight) + row[0, second] * weight
    theirs = cv2.resize(row, (dst, 1), interpolation=cv2.INTER_LINEAR)[0]
    np.testing.assert_allclose(ours, theirs, atol=5e-5)  # float rounding of the weights only


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("frame_hw", [(600, 800), (480, 640), (256, 256), (150, 130)])
def test_random_maps_match_the_frame_resolution_reference(seed: int,
                                                          frame_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    canvas = np.zeros((256, 256), np.float32)
    for _ in range(rng.integers(0, 5)):  # blobs of every size, some touching
        center = (int(rng.integers(0, 256)), int(rng.integers(0, 256)))
        axes = (int(rng.integers(2, 60)), int(rng.integers(2, 60)))
        cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360,
                    float(rng.uniform(0.5, 1.0)), -1)
    blurred = cv2.GaussianBlur(canvas, (0, 0), float(rng.uniform(1, 6)))
    noisy = blurred + np.asarray(rng.normal(0, 0.02, blurred.shape), np.float32)
    dice, worst = _compare(np.clip(noisy, 0, 1).astype(np.float32), frame_hw, 0.4)
    assert dice >= MIN_DICE and worst <= BOX_TOLERANCE_PX


def test_empty_and_full_maps() -> None:
    assert find_regions_net(np.zeros((64, 64), np.float32), (100, 100), 0.5, 1) == []
    pieces = find_regions_net(np.ones((64, 64), np.float32), (100, 120), 0.5, 1)
    assert [p.region.bbox for p in pieces] == [(0, 0, 120, 100)]
    assert pieces[0].region.area_px == 12000 and paint_mask((100, 120), pieces).all()


def test_busi_val_matches_the_frame_resolution_reference(busi: Path) -> None:
    """The shipped bundle's segmenter on every BUSI val image: both post-processings agree."""
    from edge_sdk import Pipeline
    from edge_sdk.bundle import default_bundle_path
    from edge_sdk.dataset import load_samples, read_gray

    samples = load_samples(busi, "val")
    dices, worst = [], 0
    with Pipeline(default_bundle_path(), backend_options={"providers": ["CPUExecutionProvider"]}) as pipe:
        params = pipe.params
        for sample in samples:
            image = read_gray(sample.image_path)
            prob = pipe._segment(pipe._segmenter_input(image))
            dice, box = _compare(prob, image.shape[:2], params.segmentation_threshold,
                                 params.max_lesions)
            dices.append(dice)
            worst = max(worst, box)
    assert len(dices) == len(samples) > 0
    assert min(dices) >= MIN_DICE, f"lowest Dice {min(dices):.4f}"
    assert worst <= BOX_TOLERANCE_PX


@pytest.mark.parametrize("large", [False, True])
def test_min_peak_drops_faint_regions(large: bool) -> None:
    """A region whose highest probability stays under ``min_peak`` is not a lesion, in both
    finders; one with a small confident spot is kept whatever its mean."""
    side = 256 if large else 64  # large: OpenCV's statistics path of find_regions
    prob = np.zeros((side, side), np.float32)
    prob[4:30, 4:30] = 0.6  # faint
    prob[36:60, 36:60] = 0.6
    prob[39:42, 39:42] = 0.97  # a confident spot
    if large:
        prob[100:250, 100:250] = 0.6  # over the sorting limit, faint
    _, every = find_regions(prob, 0.5, 1)
    _, kept = find_regions(prob, 0.5, 1, min_peak=0.95)
    assert len(every) == (3 if large else 2)
    assert [r.bbox for r in kept] == [(36, 36, 60, 60)]
    net = find_regions_net(prob, (2 * side, 2 * side), 0.5, 1, min_peak=0.9)
    (piece,) = net  # the confident region, its box within the stated tolerance
    assert max(abs(a - b) for a, b in zip(piece.region.bbox, (72, 72, 120, 120))) <= BOX_TOLERANCE_PX
    assert len(find_regions_net(prob, (2 * side, 2 * side), 0.5, 1)) == len(every)
