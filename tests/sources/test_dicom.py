from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pydicom", reason="the dicom source needs pydicom (pip install 'edge-sdk[sources]')")

from edge_sdk.errors import SourceError
from edge_sdk.sources import DicomCineSource, source_from_uri
from tests.sources.contract import SourceContract
from tests.sources.dicom_files import write_cine


class TestDicomContract(SourceContract):
    @pytest.fixture()
    def source(self, tmp_path):
        return DicomCineSource(write_cine(tmp_path / "cine.dcm")[0])

    @pytest.fixture()
    def uri(self, tmp_path):
        return f"dicom:{write_cine(tmp_path / 'cine.dcm')[0]}"


@pytest.mark.parametrize("color", [False, True])
def test_frames_spacing_region_and_loop_time(tmp_path, color):
    path, sim = write_cine(tmp_path / "cine.dcm", frames=3, color=color, frame_time_ms=40.0)
    with DicomCineSource(path) as source:
        frames = list(source)
    assert source.file_fps == pytest.approx(25.0)
    assert len(frames) == 3
    for i, frame in enumerate(frames):
        assert np.array_equal(frame.pixels, sim.render(i)[0])  # BGR back, bit for bit
        assert frame.spacing_mm == pytest.approx((0.2, 0.1))  # (row, col) mm from cm
        assert frame.info["region_box"] == sim.region_box
        assert frame.device_timestamp == pytest.approx(0.04 * i)


def test_a_non_ultrasound_dicom_is_refused(tmp_path):
    import pydicom

    path, _ = write_cine(tmp_path / "cine.dcm")
    ds = pydicom.dcmread(path)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT
    ds.save_as(path)
    with pytest.raises(SourceError, match="is not ultrasound; expected Ultrasound Multi-frame"):
        DicomCineSource(path).open()


def test_not_dicom_at_all(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"hello")
    with pytest.raises(SourceError, match="not a readable DICOM file"):
        source_from_uri(f"dicom:{tmp_path / 'x.dcm'}").open()
