"""From a lesion probability map to lesions, boxes and classifier crops.

Pure NumPy/OpenCV; the training code imports :func:`crop_lesion` so that the classifier learns
on crops made exactly as the runtime makes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_sdk.manifest import InputSpec
from edge_sdk.preprocess import convert_color, letterbox, normalize

Box = tuple[int, int, int, int]
"""A box as (x0, y0, x1, y1) in pixels, end-exclusive."""


@dataclass(frozen=True)
class Region:
    """One connected lesion region found in the thresholded mask."""

    label: int
    bbox: Box
    area_px: int
    seg_score: float


def find_regions(
    prob: np.ndarray, threshold: float, min_area_px: int
) -> tuple[np.ndarray, list[Region]]:
    """Threshold a full-resolution probability map and list its connected regions.

    Args:
        prob: H×W float32 lesion probabilities in [0, 1].
        threshold: Pixels with ``prob >= threshold`` are lesion.
        min_area_px: Regions smaller than this are discarded (noise, speckle).

    Returns:
        The 8-connected label image (int32, 0 = background) and the kept regions, largest first.
    """
    binary = (prob >= threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    regions = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < min_area_px:
            continue
        score = float(prob[y : y + h, x : x + w][labels[y : y + h, x : x + w] == label].mean())
        regions.append(Region(label, (x, y, x + w, y + h), area, score))
    regions.sort(key=lambda r: (-r.area_px, r.bbox))
    return labels, regions


def expand_box(box: Box, margin: float, frame_hw: tuple[int, int]) -> Box:
    """Grow ``box`` by ``margin`` × its width/height on each side, clipped to the frame.

    Example:
        >>> expand_box((10, 10, 20, 30), 0.1, (100, 100))
        (9, 8, 21, 32)
    """
    x0, y0, x1, y1 = box
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    height, width = frame_hw
    return (
        max(0, math.floor(x0 - dx)),
        max(0, math.floor(y0 - dy)),
        min(width, math.ceil(x1 + dx)),
        min(height, math.ceil(y1 + dy)),
    )


def crop_lesion(frame: np.ndarray, crop_box: Box, spec: InputSpec) -> np.ndarray:
    """Cut ``crop_box`` from the original-resolution frame and make a classifier sample.

    The crop is converted to the net's colour mode, letterboxed to its input size and
    normalized as the manifest says. Returns C×H×W.
    """
    x0, y0, x1, y1 = crop_box
    patch = convert_color(frame[y0:y1, x0:x1], spec.color)
    return normalize(letterbox(patch, spec.size_hw), spec)
