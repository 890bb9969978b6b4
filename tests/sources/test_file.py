from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_sdk.errors import SourceError
from edge_sdk.sources import ImageFolderSource, VideoFileSource, source_from_uri
from edge_sdk.testing import synthetic_frame
from tests.sources.contract import SourceContract


def write_video(path, frames=6, size=(96, 64), fps=25.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(synthetic_frame(size[1], size[0], lesions=[(20 + 5 * i, 30, 8, 6)],
                                     seed=i, color=True))
    writer.release()
    return path


def write_images(folder, count=4):
    folder.mkdir(exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"f{i:02d}.png"), synthetic_frame(64, 80, seed=i))
    return folder


class TestVideoFileContract(SourceContract):
    @pytest.fixture()
    def source(self, tmp_path):
        return VideoFileSource(write_video(tmp_path / "scan.avi"))

    @pytest.fixture()
    def uri(self, tmp_path):
        return f"file:{write_video(tmp_path / 'scan.avi')}"


class TestImageFolderContract(SourceContract):
    @pytest.fixture()
    def source(self, tmp_path):
        return ImageFolderSource(write_images(tmp_path / "frames"))

    @pytest.fixture()
    def uri(self, tmp_path):
        return str(write_images(tmp_path / "frames"))  # a plain folder path


def test_video_frames_carry_presentation_times(tmp_path):
    with VideoFileSource(write_video(tmp_path / "scan.avi", fps=25.0)) as source:
        frames = list(source)
    assert len(frames) == 6
    assert [f.info["name"] for f in frames[:2]] == ["scan.avi#0", "scan.avi#1"]
    assert source.file_fps == pytest.approx(25.0)
    stamps = [f.device_timestamp for f in frames]
    assert np.diff(stamps) == pytest.approx([0.04] * 5, abs=1e-3)


def test_pacing_to_the_file_rate_spaces_frames(tmp_path):
    with source_from_uri(f"file:{write_video(tmp_path / 's.avi', frames=5, fps=50.0)}?pace=1") as src:
        stamps = [f.host_timestamp for f in src]
    # 4 intervals of 20 ms: at least 3/4 of that span, whatever the machine's load
    assert stamps[-1] - stamps[0] >= 0.75 * 4 / 50.0


def test_an_unreadable_image_is_an_error_naming_it_and_reading_goes_on(tmp_path):
    folder = write_images(tmp_path / "frames", count=3)
    (folder / "f01.png").write_bytes(b"not a png")
    with ImageFolderSource(folder) as source:
        first = source.read()
        with pytest.raises(SourceError, match="cannot read .*f01.png"):
            source.read()
        last = source.read()
    assert [first.info["name"], last.info["name"]] == ["f00.png", "f02.png"]
    assert source.unreadable == [folder / "f01.png"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: VideoFileSource(p / "missing.mp4"), "does not exist"),
        (lambda p: VideoFileSource((p / "bad.mp4").write_bytes(b"xx") and p / "bad.mp4"),
         "OpenCV cannot decode it"),
        (lambda p: ImageFolderSource(p), "holds no images"),
        (lambda p: ImageFolderSource(p / "nowhere"), "does not exist"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        make(tmp_path).open()
