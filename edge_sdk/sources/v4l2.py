"""Capture cards and UVC grabbers on Linux, through OpenCV's V4L2 backend.

A scanner's HDMI/DVI/SDI output goes into a USB (UVC) or PCIe capture card, which Linux exposes
as ``/dev/videoN``. We ask for one driver buffer (``CAP_PROP_BUFFERSIZE`` 1) so that a read
returns the newest frame rather than one queued seconds ago.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2

from edge_sdk.errors import SourceDisconnected, SourceError
from edge_sdk.sources.base import FrameSource, RawFrame
from edge_sdk.sources.uri import check_params, parse_number, parse_size

logger = logging.getLogger(__name__)

FOURCCS = ("MJPG", "YUYV", "YU12", "NV12", "BGR3", "GREY")


class V4l2Source(FrameSource):
    """Frames from a V4L2 device (``/dev/videoN`` or its index).

    Args:
        device: Device path (``/dev/video0``) or index (``0``).
        fourcc: Pixel format to ask for: ``MJPG`` (most USB grabbers at 1080p), ``YUYV``, ...
        size: (width, height) to ask for.
        fps: Frame rate to ask for (the device paces delivery; the runtime does not).
        capture_api: OpenCV capture backend; ``cv2.CAP_V4L2`` except in tests, which drive this
            same code through OpenCV's file backend.

    The device may grant something else than asked; what it granted is logged and kept in
    :attr:`granted`.
    """

    kind = "v4l2"
    default_region = "auto"
    live = True
    reconnectable = True
    PARAMS = {"fourcc": f"pixel format, one of {FOURCCS}", "size": "WIDTHxHEIGHT",
              "fps": "frame rate to ask the device for"}

    def __init__(self, device: str | int = "/dev/video0", fourcc: str | None = None,
                 size: tuple[int, int] | None = None, fps: float | None = None,
                 capture_api: int = cv2.CAP_V4L2) -> None:
        super().__init__()
        if fourcc is not None and (len(fourcc) != 4 or fourcc.upper() not in FOURCCS):
            raise SourceError(f"v4l2: fourcc {fourcc!r} is not supported; expected one of {FOURCCS}. "
                              "Fix: e.g. fourcc=MJPG")
        self.device = device
        self.fourcc = fourcc.upper() if fourcc else None
        self.size = size
        self.requested_fps = fps
        self.capture_api = capture_api
        self.granted: dict[str, Any] = {}
        self._capture: Any = None

    @classmethod
    def from_uri(cls, target: str, params: dict[str, str]) -> V4l2Source:
        check_params(cls.kind, params, cls.PARAMS)
        device: str | int = int(target) if target.isdigit() else (target or "/dev/video0")
        return cls(device, fourcc=params.get("fourcc"),
                   size=parse_size(cls.kind, params["size"]) if "size" in params else None,
                   fps=parse_number(cls.kind, "fps", params["fps"]) if "fps" in params else None)

    def describe(self) -> str:
        return f"v4l2 source {self.device}"

    @property
    def nominal_fps(self) -> float | None:
        return self.granted.get("fps") or self.requested_fps

    def _open(self) -> None:
        if isinstance(self.device, str) and self.capture_api == cv2.CAP_V4L2 \
                and not Path(self.device).exists():
            raise SourceError(f"{self.describe()}: no such device; expected a V4L2 node such as "
                              "/dev/video0. Fix: plug in the capture card and list devices with "
                              "'v4l2-ctl --list-devices'")
        capture = cv2.VideoCapture(self.device, self.capture_api)
        if not capture.isOpened():
            capture.release()
            raise SourceDisconnected(f"{self.describe()}: OpenCV cannot open it (busy, or not a "
                                     "capture device). Fix: check permissions (group 'video') and "
                                     "that no other program holds it")
        self._capture = capture
        self.configure(capture)

    def configure(self, capture: Any) -> dict[str, Any]:
        """Ask ``capture`` for the format, size, rate and a single buffer; return what it granted."""
        if self.fourcc:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self.fourcc))
        if self.size:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        if self.requested_fps:
            capture.set(cv2.CAP_PROP_FPS, self.requested_fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a stale queue
        code = int(capture.get(cv2.CAP_PROP_FOURCC))
        self.granted = {
            "fourcc": "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)) if code > 0 else None,
            "size": (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))),
            "fps": float(capture.get(cv2.CAP_PROP_FPS)) or None,
        }
        if self.size and self.granted["size"] != tuple(self.size):
            logger.warning("%s: asked for %dx%d, the device gives %dx%d", self.describe(),
                           *self.size, *self.granted["size"])
        return self.granted

    def _read(self, timeout: float | None) -> RawFrame | None:
        ok, pixels = self._capture.read()
        if not ok or pixels is None:
            raise SourceDisconnected(f"{self.describe()}: the device stopped delivering frames "
                                     "(unplugged, or the scanner's video output went away)")
        stamp_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        return RawFrame(pixels, device_timestamp=stamp_ms / 1000.0 if stamp_ms > 0 else None)

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
