"""Result types: dataclasses that check their own fields on creation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_sdk.errors import EdgeSDKError

STAGES = ("preprocess", "segment", "postprocess", "crop", "classify", "total")
"""The per-frame stages whose latency every result reports, in pipeline order."""


class ResultError(EdgeSDKError, ValueError):
    """A result object was built with fields of the wrong shape, type or range."""


@dataclass(frozen=True)
class Lesion:
    """One lesion found in a frame.

    Attributes:
        bbox: Tight box (x0, y0, x1, y1) around the segmented region, end-exclusive, frame pixels.
        crop_box: The box actually cropped for the classifier (``bbox`` plus the ROI margin,
            clipped to the frame).
        area_px: Region area in frame pixels.
        seg_score: Mean segmentation probability inside the region.
        malignancy: Classifier probability of the positive class (malignant).
        label: Class name decided at the bundle's decision threshold.
    """

    bbox: tuple[int, int, int, int]
    crop_box: tuple[int, int, int, int]
    area_px: int
    seg_score: float
    malignancy: float
    label: str

    def __post_init__(self) -> None:
        for name in ("bbox", "crop_box"):
            box = getattr(self, name)
            if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
                raise ResultError(f"Lesion.{name} {box} is not (x0, y0, x1, y1) with x0<x1, y0<y1")
        if self.area_px <= 0:
            raise ResultError(f"Lesion.area_px is {self.area_px}; expected > 0")
        for name in ("seg_score", "malignancy"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ResultError(f"Lesion.{name} is {value}; expected a probability in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return {
            "bbox": list(self.bbox),
            "crop_box": list(self.crop_box),
            "area_px": self.area_px,
            "seg_score": round(self.seg_score, 6),
            "malignancy": round(self.malignancy, 6),
            "label": self.label,
        }


@dataclass(frozen=True)
class StageLatency:
    """Wall-clock time of each pipeline stage for one frame, in milliseconds."""

    preprocess: float = 0.0
    segment: float = 0.0
    postprocess: float = 0.0
    crop: float = 0.0
    classify: float = 0.0
    total: float = 0.0

    def __post_init__(self) -> None:
        for name in STAGES:
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise ResultError(f"StageLatency.{name} is {value}; expected a finite value >= 0")

    def to_dict(self) -> dict[str, float]:
        return {name: round(getattr(self, name), 4) for name in STAGES}


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline says about one frame.

    Attributes:
        frame_index: Sequence number of the frame (counted by the pipeline unless given).
        timestamp: Host monotonic time (seconds) when the frame entered the pipeline.
        mask: H×W uint8 lesion mask (1 = lesion) at the frame's resolution, holding the reported
            lesions only.
        lesions: Lesions, largest first; empty for a frame with no lesion ("normal").
        latency_ms: Per-stage latency.
        device_timestamp: The capture device's own timestamp, when the source has one.
        lesions_over_limit: Regions found but not classified because the frame had more than
            the bundle's ``max_lesions`` (counted so that nothing is dropped silently).
        extras: Free-form additions (e.g. temporal tracking state).
        spacing_mm: Physical pixel size (row, column) in mm, when the source knows it (DICOM,
            OpenIGTLink); boxes and areas are in pixels, multiply by it for millimetres.
        color_overlay: The imaging area carried colour overlays (Doppler, markers) that the
            grayscale models never saw; treat the result with care.
        imaging_region: The box (x0, y0, x1, y1) of the source frame that was processed, when
            the frame was cropped to its imaging area; the mask and boxes are relative to it.
        no_lesion_malignancy: With no lesion, the classifier's score of the map's most
            suspicious area, when the bundle asks for it (``no_lesion_score: peak_region``).
    """

    frame_index: int
    timestamp: float
    mask: np.ndarray
    lesions: list[Lesion]
    latency_ms: StageLatency
    device_timestamp: float | None = None
    lesions_over_limit: int = 0
    extras: dict[str, Any] = field(default_factory=dict)
    spacing_mm: tuple[float, float] | None = None
    color_overlay: bool = False
    imaging_region: tuple[int, int, int, int] | None = None
    no_lesion_malignancy: float | None = None

    def __post_init__(self) -> None:
        if self.spacing_mm is not None and (
            len(self.spacing_mm) != 2 or not all(np.isfinite(v) and v > 0 for v in self.spacing_mm)
        ):
            raise ResultError(f"FrameResult.spacing_mm is {self.spacing_mm}; expected (row, "
                              "column) millimetres, both finite and > 0, or None")
        if self.imaging_region is not None:
            x0, y0, x1, y1 = self.imaging_region
            if not (0 <= x0 < x1 and 0 <= y0 < y1):
                raise ResultError(f"FrameResult.imaging_region {self.imaging_region} is not "
                                  "(x0, y0, x1, y1) with 0 <= x0 < x1 and 0 <= y0 < y1")
        if not isinstance(self.mask, np.ndarray) or self.mask.ndim != 2:
            raise ResultError(f"FrameResult.mask must be an HxW array; got "
                              f"{getattr(self.mask, 'shape', type(self.mask).__name__)}")
        if self.mask.dtype != np.uint8:
            raise ResultError(f"FrameResult.mask must be uint8; got {self.mask.dtype}")
        height, width = self.mask.shape
        for lesion in self.lesions:
            x0, y0, x1, y1 = lesion.crop_box
            if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                raise ResultError(f"lesion crop_box {lesion.crop_box} lies outside the "
                                  f"{height}x{width} frame")
        if self.lesions_over_limit < 0:
            raise ResultError("FrameResult.lesions_over_limit must be >= 0")

    @property
    def malignancy(self) -> float:
        """Image-level malignancy: the highest lesion malignancy; with no lesion, the score of
        the most suspicious area where the bundle computes one, else 0.0."""
        if self.lesions:
            return max(lesion.malignancy for lesion in self.lesions)
        return 0.0 if self.no_lesion_malignancy is None else self.no_lesion_malignancy

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the mask is summarized by its shape and lesion pixel count)."""
        data: dict[str, Any] = {
            "frame_index": self.frame_index,
            "timestamp": self.timestamp,
            "device_timestamp": self.device_timestamp,
            "frame_hw": list(self.mask.shape),
            "mask_px": int(np.count_nonzero(self.mask)),
            "malignancy": round(self.malignancy, 6),
            "lesions": [lesion.to_dict() for lesion in self.lesions],
            "lesions_over_limit": self.lesions_over_limit,
            "latency_ms": self.latency_ms.to_dict(),
        }
        if self.extras:
            data["extras"] = self.extras
        # keys added by the streaming runtime appear only when set, so that the per-image
        # output of process() keeps its shape
        if self.spacing_mm is not None:
            data["spacing_mm"] = [float(v) for v in self.spacing_mm]
        if self.color_overlay:
            data["color_overlay"] = True
        if self.imaging_region is not None:
            data["imaging_region"] = [int(v) for v in self.imaging_region]
        if self.no_lesion_malignancy is not None and not self.lesions:
            data["malignancy_from"] = "peak_region"  # no lesion: the frame's most suspicious area
        return data

    def replace(self, **changes: Any) -> FrameResult:
        return dataclasses.replace(self, **changes)
