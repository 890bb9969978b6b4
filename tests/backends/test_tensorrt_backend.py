"""The TensorRT backend against the shared contract, on a GPU with TensorRT (marker ``gpu``).

Skipped with the reason where TensorRT or a CUDA GPU is absent — which is every machine of this
project's CI; `benchmarks/gpu_check.sh` runs these where the hardware exists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_sdk.backends import TensorRTBackend
from edge_sdk.engine_build import build_engine, tensorrt_problem
from edge_sdk.testing import tiny_classifier_onnx, tiny_segmenter_onnx
from tests.backends.contract import CLS_SIZE, SEG_SIZE, BackendContract

pytestmark = pytest.mark.gpu


def _skip_without_tensorrt_gpu() -> None:
    problem = tensorrt_problem()
    if problem:
        pytest.skip(problem)
    from edge_sdk.cuda_runtime import device_properties

    try:
        device_properties(0)
    except Exception as exc:  # noqa: BLE001 - no driver, no device
        pytest.skip(f"no usable CUDA GPU: {exc}")


class TestTensorRTContract(BackendContract):
    @pytest.fixture(autouse=True)
    def _needs_gpu(self) -> None:
        _skip_without_tensorrt_gpu()

    def make_segmenter(self, folder: Path) -> TensorRTBackend:
        onnx = tiny_segmenter_onnx(folder / "seg.onnx", SEG_SIZE)
        meta = build_engine(onnx, folder / "seg.plan", precision="fp32", onnx_precision="fp32",
                            progress=None)
        return TensorRTBackend(folder / "seg.plan", meta=meta)

    def make_classifier(self, folder: Path) -> TensorRTBackend:
        onnx = tiny_classifier_onnx(folder / "cls.onnx", CLS_SIZE)
        meta = build_engine(onnx, folder / "cls.plan", precision="fp32", onnx_precision="fp32",
                            max_batch=8, progress=None)
        return TensorRTBackend(folder / "cls.plan", meta=meta)


def test_cuda_graph_and_transfer_split(tmp_path: Path) -> None:
    _skip_without_tensorrt_gpu()
    onnx = tiny_segmenter_onnx(tmp_path / "seg.onnx", SEG_SIZE)
    meta = build_engine(onnx, tmp_path / "seg.plan", precision="fp16", onnx_precision="fp32",
                        progress=None)
    image = np.ones((1, 1, SEG_SIZE, SEG_SIZE), np.float32)
    image[..., 20:40, 20:40] = 0.0
    with TensorRTBackend(tmp_path / "seg.plan", meta=meta, cuda_graph=True, time_transfers=True) as trt:
        for _ in range(3):
            out = trt.infer({"image": image})["lesion_prob"]
        assert set(trt.last_split_ms) == {"h2d", "compute", "d2h"}
    assert out[0, 0, 30, 30] > 0.9 and out[0, 0, 5, 5] < 0.1


def test_engine_from_another_gpu_refused(tmp_path: Path) -> None:
    _skip_without_tensorrt_gpu()
    from edge_sdk import BackendError

    onnx = tiny_segmenter_onnx(tmp_path / "seg.onnx", SEG_SIZE)
    meta = build_engine(onnx, tmp_path / "seg.plan", precision="fp32", onnx_precision="fp32",
                        progress=None)
    meta["compute_capability"] = "1.0"
    with pytest.raises(BackendError, match="compute capability 1.0"):
        TensorRTBackend(tmp_path / "seg.plan", meta=meta).activate()
