"""GStreamer pipelines ending in an ``appsink``: OpenCV's GStreamer backend or PyGObject.

pip's OpenCV wheels are built without GStreamer, so two paths are tried in order:

1. OpenCV ``CAP_GSTREAMER``, when this OpenCV build has it (JetPack's and distro OpenCV do);
2. PyGObject (``gi``) driving the pipeline and pulling samples from its appsink, which is set to
   ``max-buffers=1 drop=true`` so that a slow reader gets the newest frame. Those drops are
   counted from gaps in the buffers' offsets, for sources that number them (v4l2src does).

The pipeline must deliver raw ``BGR`` or ``GRAY8`` video to the appsink. On a Jetson with a USB
grabber, decode and convert on the hardware (``nvv4l2decoder``, ``nvvidconv``) and leave only the
last BGRx → BGR step to the CPU::

    # an MJPG grabber (most UVC HDMI grabbers at 1080p)
    gst:v4l2src device=/dev/video0 io-mode=2 ! image/jpeg,width=1920,height=1080,framerate=30/1 !
        nvv4l2decoder mjpeg=1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert !
        video/x-raw,format=BGR ! appsink
    # a YUYV grabber
    gst:v4l2src device=/dev/video0 ! video/x-raw,format=YUY2,width=1920,height=1080 !
        nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.errors import MissingDependencyError, SourceDisconnected, SourceError
from edge_sdk.sources.base import EndOfStream, FrameSource, RawFrame

SYSTEM_PACKAGES = ("gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
                   "python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0")


def opencv_has_gstreamer() -> bool:
    """Whether this OpenCV build can open GStreamer pipelines (pip wheels cannot)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line.split(":", 1)[1]
    return False


def pygobject_gstreamer() -> Any:
    """Import and initialise PyGObject's ``Gst``, or raise a clear :class:`MissingDependencyError`."""
    try:
        gi = import_optional("gi", "sources", "The gst source without OpenCV GStreamer support")
        gi.require_version("Gst", "1.0")
        gi.require_version("GstApp", "1.0")
        from gi.repository import Gst
    except (MissingDependencyError, ValueError, ImportError) as exc:
        raise MissingDependencyError(
            "the gst source needs OpenCV built with GStreamer or PyGObject with GStreamer "
            f"({exc}). Fix (Debian/Ubuntu/JetPack): sudo apt-get install {SYSTEM_PACKAGES}, and "
            "run with the system Python (or a venv made with --system-site-packages)"
        ) from exc
    if not Gst.is_initialized():
        Gst.init(None)
    return Gst


class GstSource(FrameSource):
    """Frames from a GStreamer pipeline description ending in ``appsink``.

    Args:
        pipeline: The description, e.g. ``videotestsrc ! videoconvert ! video/x-raw,format=BGR !
            appsink``.
        use_opencv: Force (True) or forbid (False) OpenCV's backend; default: use it if present.
    """

    kind = "gst"
    default_region = "auto"
    live = True
    reconnectable = True
    PARAMS: dict[str, str] = {}

    def __init__(self, pipeline: str, use_opencv: bool | None = None) -> None:
        super().__init__()
        if "appsink" not in pipeline:
            raise SourceError(f"gst: the pipeline {pipeline!r} has no appsink; expected it to end "
                              "in '... ! videoconvert ! video/x-raw,format=BGR ! appsink'. Fix: "
                              "end the pipeline with that")
        self.pipeline = pipeline
        self.use_opencv = opencv_has_gstreamer() if use_opencv is None else use_opencv
        self._capture: Any = None
        self._gst: Any = None
        self._pipeline: Any = None
        self._sink: Any = None

    @classmethod
    def from_uri(cls, target: str, params: dict[str, str]) -> GstSource:
        return cls(target)

    def describe(self) -> str:
        return f"gst source ({self.pipeline})"

    def _open(self) -> None:
        if self.use_opencv:
            capture = cv2.VideoCapture(self.pipeline, cv2.CAP_GSTREAMER)
            if not capture.isOpened():
                capture.release()
                raise SourceDisconnected(f"{self.describe()}: OpenCV could not start the pipeline;"
                                         " test it with gst-launch-1.0 (replace appsink by "
                                         "fakesink)")
            self._capture = capture
            return
        gst = self._gst = pygobject_gstreamer()
        try:
            pipeline = gst.parse_launch(self.pipeline)
        except Exception as exc:  # GLib.Error: the description does not parse
            raise SourceError(f"{self.describe()}: GStreamer cannot parse it: {exc}") from exc
        sink = pipeline.get_by_name("sink") or self._find_appsink(pipeline)
        if sink is None:
            raise SourceError(f"{self.describe()}: no appsink found (name it 'sink')")
        sink.set_property("max-buffers", 1)
        sink.set_property("drop", True)
        sink.set_property("sync", False)
        if pipeline.set_state(gst.State.PLAYING) == gst.StateChangeReturn.FAILURE:
            pipeline.set_state(gst.State.NULL)
            raise SourceDisconnected(f"{self.describe()}: the pipeline failed to start")
        self._pipeline, self._sink = pipeline, sink
        self._last_offset = -1  # numbered buffers count from 0

    def _find_appsink(self, pipeline: Any) -> Any:
        """The pipeline's (unnamed) appsink; Gst.Iterator is walked by hand, as older PyGObject
        builds without gst-python's overrides cannot iterate it with ``for``."""
        gst = self._gst
        iterator = pipeline.iterate_sinks()
        while True:
            status, element = iterator.next()
            if status == gst.IteratorResult.RESYNC:
                iterator.resync()
                continue
            if status != gst.IteratorResult.OK:
                return None
            factory = element.get_factory()
            if factory is not None and factory.get_name() == "appsink":
                return element

    def _read(self, timeout: float | None) -> RawFrame | None:
        if self._capture is not None:
            ok, pixels = self._capture.read()
            if not ok or pixels is None:
                raise SourceDisconnected(f"{self.describe()}: the pipeline stopped delivering")
            return RawFrame(pixels)
        gst = self._gst
        wait_ns = gst.CLOCK_TIME_NONE if timeout is None else int(timeout * 1e9)
        sample = self._sink.emit("try-pull-sample", wait_ns)
        if sample is None:
            if self._sink.get_property("eos"):
                raise EndOfStream
            self._check_bus()
            return None
        return self._to_frame(sample)

    def _check_bus(self) -> None:
        bus = self._pipeline.get_bus()
        message = bus.pop_filtered(self._gst.MessageType.ERROR)
        if message is not None:
            error, debug = message.parse_error()
            raise SourceDisconnected(f"{self.describe()}: {error.message} ({debug})")

    def _to_frame(self, sample: Any) -> RawFrame:
        caps = sample.get_caps().get_structure(0)
        width, height = caps.get_value("width"), caps.get_value("height")
        fmt = caps.get_value("format")
        channels = {"BGR": 3, "GRAY8": 1}.get(fmt)
        if channels is None:
            raise SourceError(f"{self.describe()}: the appsink gets {fmt}; expected BGR or GRAY8. "
                              "Fix: end the pipeline with 'videoconvert ! video/x-raw,format=BGR "
                              "! appsink'")
        buffer = sample.get_buffer()
        ok, info = buffer.map(self._gst.MapFlags.READ)
        if not ok:
            raise SourceError(f"{self.describe()}: cannot map a buffer")
        try:
            data = np.frombuffer(info.data, np.uint8)
            stride = data.size // height
            pixels = data.reshape(height, stride)[:, : width * channels].copy()
        finally:
            buffer.unmap(info)
        pixels = pixels.reshape(height, width, 3) if channels == 3 else pixels
        pts = buffer.pts
        stamp = pts / 1e9 if pts != self._gst.CLOCK_TIME_NONE else None
        # sources that number their buffers (videotestsrc, v4l2src) reveal the appsink's drops
        offset = buffer.offset
        if offset != self._gst.BUFFER_OFFSET_NONE:
            if offset > self._last_offset + 1:
                self.dropped_at_source += offset - self._last_offset - 1
            self._last_offset = offset
        return RawFrame(pixels, device_timestamp=stamp)

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        if self._pipeline is not None:
            self._pipeline.set_state(self._gst.State.NULL)
            self._pipeline = self._sink = None
