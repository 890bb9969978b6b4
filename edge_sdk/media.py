"""Read frames from an image file, a folder of images or a video file (for ``edge-sdk run``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_sdk.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")


@dataclass(frozen=True)
class MediaFrame:
    """A frame read from a file: its pixels (None when unreadable), a name and the reason."""

    name: str
    pixels: np.ndarray | None
    error: str | None = None


def read_image_file(path: Path) -> np.ndarray | None:
    """Read an image keeping grayscale as H×W; drop an alpha channel. None if unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is not None and image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _images(paths: list[Path]) -> Iterator[MediaFrame]:
    for path in paths:
        pixels = read_image_file(path)
        yield MediaFrame(path.name, pixels, None if pixels is not None else f"cannot read {path}")


def _video(path: Path) -> Iterator[MediaFrame]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ConfigError(f"cannot open the video {path}; expected a video OpenCV can decode "
                          f"({', '.join(VIDEO_SUFFIXES)})")
    try:
        index = 0
        while True:
            ok, pixels = capture.read()
            if not ok:
                break
            yield MediaFrame(f"{path.name}#{index}", pixels)
            index += 1
    finally:
        capture.release()


def video_fps(path: Path, default: float = 10.0) -> float:
    """Frame rate of a video file, ``default`` for images or when the file does not say."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        return default
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
    capture.release()
    return fps if fps and fps > 0 else default


def iter_media(source: str | Path) -> Iterator[MediaFrame]:
    """Yield the frames of an image file, an image folder (sorted by name) or a video file.

    Raises:
        ConfigError: the path does not exist, or is neither an image, a video nor a folder
            with images.
    """
    path = Path(source)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise ConfigError(f"the folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return _images(images)
    if not path.exists():
        raise ConfigError(f"the source {path} does not exist; expected an image, a folder of "
                          "images or a video file")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return _images([path])
    if suffix in VIDEO_SUFFIXES:
        return _video(path)
    raise ConfigError(f"the source {path} has an unknown type '{suffix}'; expected an image "
                      f"({', '.join(IMAGE_SUFFIXES)}), a video ({', '.join(VIDEO_SUFFIXES)}) "
                      "or a folder")
