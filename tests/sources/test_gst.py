"""GStreamer: videotestsrc through OpenCV's backend or PyGObject, where either exists."""

from __future__ import annotations

import importlib.util

import pytest

from edge_sdk.errors import MissingDependencyError, SourceError
from edge_sdk.sources import GstSource, source_from_uri
from edge_sdk.sources.gst import opencv_has_gstreamer

PIPELINE = ("videotestsrc num-buffers=5 ! video/x-raw,width=96,height=64 ! videoconvert ! "
            "video/x-raw,format=BGR ! appsink")
HAS_GI = importlib.util.find_spec("gi") is not None
HAS_GST = opencv_has_gstreamer() or HAS_GI


@pytest.mark.skipif(not HAS_GST, reason="neither OpenCV with GStreamer (pip wheels have none) nor "
                    "PyGObject is installed; on Debian/JetPack: apt-get install python3-gi "
                    "gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-base, system Python")
def test_videotestsrc_frames():
    with source_from_uri(f"gst:{PIPELINE}") as source:
        frames = [source.read(timeout=5.0) for _ in range(3)]
    assert all(f.pixels.shape == (64, 96, 3) for f in frames)
    assert [f.index for f in frames] == [0, 1, 2]


@pytest.mark.skipif(HAS_GI, reason="PyGObject is installed: the missing-package error cannot show")
def test_without_pygobject_the_error_names_the_system_packages():
    with pytest.raises(MissingDependencyError, match="apt-get install .*python3-gi"):
        GstSource(PIPELINE, use_opencv=False).open()


def test_a_pipeline_without_appsink_is_refused():
    with pytest.raises(SourceError, match="has no appsink"):
        source_from_uri("gst:videotestsrc ! autovideosink")
