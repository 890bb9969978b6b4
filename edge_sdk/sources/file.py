"""Frames from files: a video (OpenCV), or a folder of images (plain or the dataset layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2

from edge_sdk.errors import SourceError
from edge_sdk.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image_file
from edge_sdk.sources.base import EndOfStream, FrameSource, RawFrame
from edge_sdk.sources.uri import check_params, parse_bool, parse_number


class VideoFileSource(FrameSource):
    """Frames of a video file, decoded by OpenCV.

    Args:
        path: The video file.
        fps: Deliver at this rate; ``None`` delivers as fast as they decode (lossless).
        pace: Deliver at the file's own frame rate (ignored when ``fps`` is given).

    Device timestamps are the file's presentation times (``CAP_PROP_POS_MSEC``) in seconds.
    """

    kind = "file"
    PARAMS = {"fps": "deliver at this rate (default: as fast as possible)",
              "pace": "1 to deliver at the file's own frame rate"}

    def __init__(self, path: str | Path, fps: float | None = None, pace: bool = False) -> None:
        super().__init__(fps=fps)
        self.path = Path(path)
        self.pace = pace
        self._capture: Any = None
        self.file_fps: float | None = None

    @classmethod
    def from_uri(cls, target: str, params: dict[str, str]) -> VideoFileSource:
        check_params(cls.kind, params, cls.PARAMS)
        fps = parse_number(cls.kind, "fps", params["fps"]) if "fps" in params else None
        pace = parse_bool(cls.kind, "pace", params["pace"]) if "pace" in params else False
        return cls(target, fps=fps, pace=pace)

    def describe(self) -> str:
        return f"file source {self.path}"

    def _make_capture(self) -> Any:
        return cv2.VideoCapture(str(self.path))

    def _open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"{self.describe()}: the file does not exist; expected a video "
                              f"({', '.join(VIDEO_SUFFIXES)}). Fix: check the path")
        capture = self._make_capture()
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.describe()}: OpenCV cannot decode it; expected a video "
                              f"({', '.join(VIDEO_SUFFIXES)}) in a codec this OpenCV build reads")
        self._capture = capture
        rate = capture.get(cv2.CAP_PROP_FPS)
        self.file_fps = float(rate) if rate and rate > 0 else None
        if self.pace and self.fps is None:
            self.fps = self.file_fps

    def _read(self, timeout: float | None) -> RawFrame | None:
        ok, pixels = self._capture.read()
        if not ok or pixels is None:
            raise EndOfStream
        position_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        return RawFrame(pixels, device_timestamp=position_ms / 1000.0 if position_ms >= 0 else None,
                        info={"name": f"{self.path.name}#{self.frames_read}"})

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class ImageFolderSource(FrameSource):
    """Frames from image files: one image, a folder (sorted by name), or a dataset folder.

    Args:
        path: An image file, a folder of images, or a dataset folder (``images/`` beside
            ``labels.csv``; with ``split`` only that split's images, per ``splits.csv``).
        fps: Deliver at this rate; ``None`` delivers as fast as they load.
        split: Dataset split to read (dataset layout only).

    An unreadable file makes that :meth:`read` raise :class:`SourceError` naming it; the next
    read goes on with the following file (the runtime counts it as a failed frame).
    """

    kind = "images"
    PARAMS = {"fps": "deliver at this rate (default: as fast as possible)",
              "split": "dataset split, e.g. test (dataset layout only)"}

    def __init__(self, path: str | Path, fps: float | None = None,
                 split: str | None = None) -> None:
        super().__init__(fps=fps)
        self.path, self.split = Path(path), split
        self.paths: list[Path] = []
        self.unreadable: list[Path] = []
        self._next = 0

    @classmethod
    def from_uri(cls, target: str, params: dict[str, str]) -> ImageFolderSource:
        check_params(cls.kind, params, cls.PARAMS)
        fps = parse_number(cls.kind, "fps", params["fps"]) if "fps" in params else None
        return cls(target, fps=fps, split=params.get("split"))

    def describe(self) -> str:
        return f"images source {self.path}"

    def _list(self) -> list[Path]:
        path = self.path
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise SourceError(f"{self.describe()}: the path does not exist; expected an image, a "
                              "folder of images or a dataset folder")
        if (path / "labels.csv").is_file() and (path / "images").is_dir():
            from edge_sdk.dataset import load_samples

            return [sample.image_path for sample in load_samples(path, self.split)]
        if self.split is not None:
            raise SourceError(f"{self.describe()}: split={self.split!r} needs the dataset layout "
                              "(images/ and labels.csv); this is a plain folder")
        return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

    def _open(self) -> None:
        self.paths = self._list()
        if not self.paths:
            raise SourceError(f"{self.describe()}: holds no images; expected files ending in "
                              f"{', '.join(IMAGE_SUFFIXES)}")
        self._next = 0

    def _read(self, timeout: float | None) -> RawFrame | None:
        if self._next >= len(self.paths):
            raise EndOfStream
        path = self.paths[self._next]
        self._next += 1
        pixels = read_image_file(path)
        if pixels is None or pixels.dtype.name != "uint8":
            self.unreadable.append(path)
            raise SourceError(f"cannot read {path}: expected an 8-bit image "
                              f"({', '.join(IMAGE_SUFFIXES)})")
        return RawFrame(pixels, info={"name": path.name})
