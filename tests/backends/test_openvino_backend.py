from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("openvino", reason="the OpenVINO backend is in the 'bench' extra")

from edge_sdk import ConfigError, Pipeline
from edge_sdk.backends import OpenVINOBackend
from edge_sdk.testing import synthetic_frame
from tests.backends.contract import BackendContract


class TestOpenVINOContract(BackendContract):
    def make_backend(self, model_path: Path) -> OpenVINOBackend:
        return OpenVINOBackend(model_path, threads=1)


def test_reports_the_precision_it_ran(tiny_bundle_dir: Path) -> None:
    with Pipeline(tiny_bundle_dir, backend="openvino") as pipeline:
        assert pipeline.segmenter.inference_precision == "f32"  # type: ignore[attr-defined]
        result = pipeline.process(synthetic_frame())
    assert len(result.lesions) == 1
    with pytest.raises(ConfigError, match="expected f32, bf16, f16 or default"):
        OpenVINOBackend(tiny_bundle_dir / "segmenter.onnx", precision="int4")


def test_matches_onnxruntime(tiny_bundle_dir: Path) -> None:
    frame = synthetic_frame(300, 400, lesions=[(100, 100, 40, 25), (290, 200, 20, 30)])
    with Pipeline(tiny_bundle_dir) as ort, Pipeline(tiny_bundle_dir, backend="openvino") as ov:
        a, b = ort.process(frame), ov.process(frame)
    assert [l.bbox for l in a.lesions] == [l.bbox for l in b.lesions]
    assert [round(l.malignancy, 4) for l in a.lesions] == [round(l.malignancy, 4) for l in b.lesions]


def test_default_precision_is_reported_not_hidden(tiny_bundle_dir: Path) -> None:
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    with OpenVINOBackend(tiny_bundle_dir / "segmenter.onnx", precision="default") as backend:
        expected = "bf16" if "BF16" in capabilities else "f32"
        assert backend.inference_precision == expected
