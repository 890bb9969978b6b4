"""A damaged DICOM cine: a typed error that blames the file, not a missing decoder."""

from __future__ import annotations

import pytest

pytest.importorskip("pydicom", reason="the dicom source needs pydicom (pip install 'edge-sdk[sources]')")

from edge_sdk.errors import SourceError
from edge_sdk.sources import DicomCineSource
from tests.sources.dicom_files import write_cine


def test_truncated_pixel_data_says_corrupt_not_pylibjpeg(tmp_path):
    path, _ = write_cine(tmp_path / "cine.dcm", frames=4)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 160 * 120 * 2])  # the last two frames are gone
    errors = []
    with DicomCineSource(path) as source:
        for _ in range(4):
            try:
                source.read()
            except SourceError as exc:
                errors.append(str(exc))
                break
            except Exception as exc:  # noqa: BLE001 - the test reports any other type
                pytest.fail(f"untyped error {type(exc).__name__}: {exc}")
    assert len(errors) == 1, "the truncated frames were read without an error"
    if errors:
        assert "corrupt or truncated" in errors[0] and "pylibjpeg" not in errors[0]
        assert "Fix:" in errors[0]
