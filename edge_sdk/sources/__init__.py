"""Frame sources behind one small interface, chosen by URI scheme from a plain registry.

Optional libraries (pydicom, pyigtl, PyGObject) are imported when such a source opens, not here.
"""

from __future__ import annotations

from edge_sdk.errors import SourceError
from edge_sdk.sources.base import EndOfStream, Frame, FrameSource, RawFrame, SourceTimeout
from edge_sdk.sources.dicom import DicomCineSource
from edge_sdk.sources.file import ImageFolderSource, VideoFileSource
from edge_sdk.sources.gst import GstSource
from edge_sdk.sources.igtl import IgtlSource
from edge_sdk.sources.push import PushSource
from edge_sdk.sources.synthetic import ProbeSimulator, SyntheticSource
from edge_sdk.sources.uri import EXAMPLES, SourceURI, parse_uri
from edge_sdk.sources.v4l2 import V4l2Source

SOURCES: dict[str, type[FrameSource]] = {
    "synthetic": SyntheticSource,
    "file": VideoFileSource,
    "images": ImageFolderSource,
    "v4l2": V4l2Source,
    "gst": GstSource,
    "dicom": DicomCineSource,
    "igtl": IgtlSource,
    "push": PushSource,
}
"""URI scheme → source class. Each class has ``from_uri(target, params)`` and ``PARAMS``."""


def source_from_uri(uri: str) -> FrameSource:
    """Create (not yet open) the source a URI or plain path names.

    Raises:
        SourceError: unknown scheme or parameter; the message lists what is accepted.

    Example:
        >>> source_from_uri("synthetic://?fps=0&size=320x240").describe()
        'synthetic source (320x240, convex, unpaced)'
        >>> source_from_uri("webcam:0")
        Traceback (most recent call last):
        ...
        edge_sdk.errors.SourceError: unknown source scheme 'webcam' in 'webcam:0'; accepted schemes: ['dicom', 'file', 'gst', 'igtl', 'images', 'push', 'synthetic', 'v4l2']. Fix: use one of them, e.g. synthetic://?fps=30&size=800x600, file:scan.mp4, images:DIR, v4l2:///dev/video0?fourcc=MJPG&size=1920x1080&fps=30, gst:videotestsrc ! videoconvert ! appsink, dicom:cine.dcm, igtl://127.0.0.1:18944?device=Image, push
    """
    parsed = parse_uri(uri, tuple(SOURCES))
    try:
        cls = SOURCES[parsed.scheme]
    except KeyError:
        raise SourceError(f"unknown source kind {parsed.scheme!r}; known kinds: "
                          f"{sorted(SOURCES)}") from None
    return cls.from_uri(parsed.target, parsed.params)  # type: ignore[attr-defined]


__all__ = [
    "EXAMPLES",
    "SOURCES",
    "DicomCineSource",
    "EndOfStream",
    "Frame",
    "FrameSource",
    "GstSource",
    "IgtlSource",
    "ImageFolderSource",
    "ProbeSimulator",
    "PushSource",
    "RawFrame",
    "SourceTimeout",
    "SourceURI",
    "SyntheticSource",
    "V4l2Source",
    "VideoFileSource",
    "parse_uri",
    "source_from_uri",
]
