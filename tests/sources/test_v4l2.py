"""V4L2: the capture code driven through OpenCV on a file, and a real device when there is one."""

from __future__ import annotations

import glob

import cv2
import pytest

from edge_sdk.errors import SourceDisconnected, SourceError
from edge_sdk.sources import V4l2Source, source_from_uri
from tests.sources.contract import SourceContract
from tests.sources.test_file import write_video


def file_backed(path, **kw) -> V4l2Source:
    # the same V4l2Source code (configure, read, disconnect) over OpenCV's file backend
    return V4l2Source(str(path), capture_api=cv2.CAP_ANY, **kw)


class TestV4l2Contract(SourceContract):
    finite = False  # a capture device that stops delivering is lost, not finished

    @pytest.fixture()
    def source(self, tmp_path):
        return file_backed(write_video(tmp_path / "grab.avi", frames=4), fourcc="MJPG")

    @pytest.fixture()
    def uri(self, tmp_path):
        return "v4l2:///dev/video0?fourcc=MJPG&size=640x480&fps=30"


def test_configure_reads_back_what_the_capture_granted(tmp_path):
    video = write_video(tmp_path / "grab.avi", frames=3, size=(96, 64), fps=25.0)
    with file_backed(video, fourcc="MJPG", size=(1920, 1080), fps=30) as source:
        frame = source.read()
        granted = source.granted
    assert frame.pixels.shape == (64, 96, 3)
    assert granted["size"] == (96, 64)  # a file cannot be resized: the granted size says so
    assert granted["fourcc"] == "MJPG"


def test_the_end_of_frames_is_a_disconnection_not_an_end_of_stream(tmp_path):
    video = write_video(tmp_path / "grab.avi", frames=3)
    with file_backed(video) as source:
        frames = [source.read() for _ in range(3)]
        with pytest.raises(SourceDisconnected, match="stopped delivering"):
            source.read()
    assert [f.index for f in frames] == [0, 1, 2]


def test_uri_parameters():
    source = source_from_uri("v4l2:///dev/video3?fourcc=yuyv&size=1280x720&fps=60")
    assert (source.device, source.fourcc, source.size, source.requested_fps) == (
        "/dev/video3", "YUYV", (1280, 720), 60.0)
    assert source_from_uri("v4l2:1").device == 1
    with pytest.raises(SourceError, match="fourcc 'H265' is not supported"):
        source_from_uri("v4l2:///dev/video0?fourcc=H265")


def test_a_missing_device_says_how_to_find_one():
    with pytest.raises(SourceError, match="no such device.*v4l2-ctl --list-devices"):
        V4l2Source("/dev/video-not-there").open()


DEVICES = sorted(glob.glob("/dev/video*"))


@pytest.mark.skipif(not DEVICES, reason="no /dev/video* device on this machine")
def test_a_real_capture_device_delivers_frames():
    try:
        source = V4l2Source(DEVICES[0]).open()
    except SourceError as exc:
        pytest.skip(f"{DEVICES[0]} is not a usable capture device here: {exc}")
    with source:
        frames = [source.read() for _ in range(3)]
    assert all(f.pixels.ndim in (2, 3) for f in frames)
