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

    @classmethod
    def off(cls) -> AugmentConfig:
        return cls(hflip=0.0, affine=0.0, photometric=0.0, blur=0.0, speckle=0.0)


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
    if rng.random() < config.speckle:  # multiplicative noise, the statistics of speckle
        pixels = image.astype(np.float32) if pixels is None else pixels
        pixels = pixels * (1.0 + rng.normal(0.0, config.speckle_sigma, pixels.shape))
    if pixels is not None:
        image = np.clip(pixels, 0, 255).astype(np.uint8)
    if rng.random() < config.blur:
        image = cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), rng.uniform(0.5, 1.2))
    image = np.ascontiguousarray(image)
    return image, (None if mask is None else np.ascontiguousarray(mask))
