"""Augmentations that suit B-mode ultrasound, on uint8 frames before the runtime's preprocessing.

Working on the original-resolution uint8 frame (not on the normalized tensor) lets training pass
every augmented frame through :func:`edge_sdk.preprocess.to_input` or
:func:`edge_sdk.roi.crop_lesion`, the exact code the runtime uses.

No vertical flips or large rotations: the skin line is always at the top of a B-mode frame and
acoustic shadowing runs downwards, both of which are real cues.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; ``AugmentConfig.off()`` disables all of them."""

    hflip: float = 0.5
    affine: float = 0.7
    max_rotate_deg: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_shift: float = 0.05
    photometric: float = 0.8
    contrast_range: tuple[float, float] = (0.8, 1.25)
    max_brightness: float = 20.0
    gamma_range: tuple[float, float] = (0.75, 1.35)
    blur: float = 0.2
    speckle: float = 0.3
    speckle_sigma: float = 0.12
    # scanner-to-scanner variation (what a model meets on a scanner it never saw):
    # anisotropic pixel spacing, a time-gain-compensation curve over depth, a coarser or finer
    # native resolution, and a field of view cut tighter or letterboxed with black borders
    max_aspect: float = 0.15
    tgc: float = 0.5
    max_tgc_slope: float = 0.6
    resolution: float = 0.3
    resolution_range: tuple[float, float] = (0.4, 0.9)
    border: float = 0.4
    max_border: float = 0.12
    # share of frames whose gray-level histogram is matched to another training frame's
    # (applied by the data set, which knows the other frames)
    histogram_match: float = 0.2

    @classmethod
    def off(cls) -> AugmentConfig:
        return cls(hflip=0.0, affine=0.0, photometric=0.0, blur=0.0, speckle=0.0, max_aspect=0.0,
                   tgc=0.0, resolution=0.0, border=0.0, histogram_match=0.0)


def augment(
    image: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator,
    config: AugmentConfig = AugmentConfig(),
) -> tuple[np.ndarray, np.ndarray | None]:
    """Randomly augment a uint8 H×W frame and (geometrically in step) its 0/1 mask."""
    if rng.random() < config.hflip:
        image = image[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    if rng.random() < config.affine:
        height, width = image.shape
        angle = rng.uniform(-config.max_rotate_deg, config.max_rotate_deg)
        scale = rng.uniform(*config.scale_range)
        matrix = np.asarray(cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale),
                            dtype=np.float64)
        if config.max_aspect > 0:  # another lateral/axial pixel spacing
            stretch = 1.0 + rng.uniform(-config.max_aspect, config.max_aspect)
            matrix[0, :2] *= stretch
            matrix[0, 2] += (1.0 - stretch) * width / 2
        matrix[:, 2] += rng.uniform(-config.max_shift, config.max_shift, 2) * (width, height)
        image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (width, height),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if mask is not None:
            mask = cv2.warpAffine(np.ascontiguousarray(mask), matrix, (width, height),
                                  flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    pixels: np.ndarray | None = None
    if rng.random() < config.photometric:
        pixels = image.astype(np.float32)
        pixels = pixels * rng.uniform(*config.contrast_range) + rng.uniform(
            -config.max_brightness, config.max_brightness)
        pixels = 255.0 * (np.clip(pixels, 0, 255) / 255.0) ** rng.uniform(*config.gamma_range)
    if rng.random() < config.tgc:  # another time-gain compensation: gain varies with depth
        pixels = image.astype(np.float32) if pixels is None else pixels
        depth = np.linspace(-0.5, 0.5, pixels.shape[0], dtype=np.float32)
        slope = rng.uniform(-config.max_tgc_slope, config.max_tgc_slope)
        bend = rng.uniform(-0.3, 0.3)
        pixels = pixels * np.exp(slope * depth + bend * (4 * depth**2 - 1 / 3))[:, None]
    if rng.random() < config.speckle:  # multiplicative noise, the statistics of speckle
        pixels = image.astype(np.float32) if pixels is None else pixels
        pixels = pixels * (1.0 + rng.normal(0.0, config.speckle_sigma, pixels.shape))
    if pixels is not None:
        image = np.clip(pixels, 0, 255).astype(np.uint8)
    if rng.random() < config.blur:
        image = cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), rng.uniform(0.5, 1.2))
    if rng.random() < config.resolution:  # a scanner with a coarser native resolution
        height, width = image.shape
        factor = rng.uniform(*config.resolution_range)
        small = cv2.resize(np.ascontiguousarray(image),
                           (max(8, round(width * factor)), max(8, round(height * factor))),
                           interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < config.border:
        image, mask = _crop_or_letterbox(image, mask, rng, config.max_border)
    image = np.ascontiguousarray(image)
    return image, (None if mask is None else np.ascontiguousarray(mask))


def _crop_or_letterbox(image: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator,
                       fraction: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Cut the field of view tighter, or add black borders as another scanner's screen would."""
    height, width = image.shape
    top, bottom, left, right = (int(rng.uniform(0, fraction) * n)
                                for n in (height, height, width, width))
    if rng.random() < 0.5:
        window = (slice(top, height - bottom), slice(left, width - right))
        if mask is not None and mask.any() and not mask[window].any():
            return image, mask  # the cut would remove the whole lesion
        return image[window], (None if mask is None else mask[window])
    image = cv2.copyMakeBorder(np.ascontiguousarray(image), top, bottom, left, right,
                               cv2.BORDER_CONSTANT, value=0)
    if mask is not None:
        mask = cv2.copyMakeBorder(np.ascontiguousarray(mask), top, bottom, left, right,
                                  cv2.BORDER_CONSTANT, value=0)
    return image, mask


def match_histogram(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` with its gray-level distribution mapped onto ``reference``'s (uint8, by CDF)."""
    source_cdf = np.cumsum(np.bincount(image.ravel(), minlength=256)).astype(np.float64)
    target_cdf = np.cumsum(np.bincount(reference.ravel(), minlength=256)).astype(np.float64)
    lut = np.interp(source_cdf / source_cdf[-1], target_cdf / target_cdf[-1], np.arange(256))
    return lut.astype(np.uint8)[image]
