"""File kinds the sources recognise, and reading one image file as a frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")


def read_image_file(path: Path) -> np.ndarray | None:
    """Read an image keeping grayscale as H×W; drop an alpha channel. None if unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is not None and image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image
