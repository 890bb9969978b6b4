"""The torch backend: the shared contract on the CPU, and parity with ONNX Runtime in the
pipeline. CUDA variants run where a GPU is present (marker ``gpu``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch backend needs the 'export' extra (PyTorch)")

from edge_sdk import BundleError, ConfigError, Pipeline  # noqa: E402
from edge_sdk.backends import TorchBackend  # noqa: E402
from edge_sdk.testing import synthetic_frame  # noqa: E402
from tests.backends.contract import CLS_SIZE, SEG_SIZE, BackendContract  # noqa: E402
from tests.backends.tiny_torch import (  # noqa: E402
    add_tiny_programs,
    tiny_classifier_program,
    tiny_segmenter_program,
)


class TestTorchContract(BackendContract):
    def make_segmenter(self, folder: Path) -> TorchBackend:
        return TorchBackend(tiny_segmenter_program(folder / "seg.pt2", SEG_SIZE), device="cpu")

    def make_classifier(self, folder: Path) -> TorchBackend:
        return TorchBackend(tiny_classifier_program(folder / "cls.pt2", CLS_SIZE), device="cpu")


def _with_torch_artifacts(source: Path, folder: Path) -> Path:
    return add_tiny_programs(Path(shutil.copytree(source, folder / "bundle")))


def test_pipeline_torch_matches_onnxruntime(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    root = _with_torch_artifacts(tiny_bundle_dir, tmp_path)
    frame = synthetic_frame(300, 400, lesions=[(100, 100, 40, 25), (290, 200, 20, 30)])
    with Pipeline(root, backend="onnxruntime") as ort, \
            Pipeline(root, backend="torch", backend_options={"device": "cpu"}) as eager:
        a, b = ort.process(frame), eager.process(frame)
    assert [l.bbox for l in a.lesions] == [l.bbox for l in b.lesions]
    np.testing.assert_allclose([l.malignancy for l in a.lesions],
                               [l.malignancy for l in b.lesions], atol=1e-5)
    assert (a.mask != b.mask).mean() < 1e-3  # float rounding at the threshold edge only


def test_bundle_without_torch_program(tiny_bundle_dir: Path) -> None:
    with pytest.raises(BundleError, match="no torch program for the segmenter"):
        Pipeline(tiny_bundle_dir, backend="torch")


def test_half_needs_cuda(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this host has CUDA; the CPU refusal is tested on CPU-only hosts")
    backend = TorchBackend(tiny_segmenter_program(tmp_path / "s.pt2", SEG_SIZE), device="cpu", half=True)
    with pytest.raises(ConfigError, match="need a CUDA device"):
        backend.activate()
    with pytest.raises(ConfigError, match="CUDA is not available"):
        TorchBackend(tmp_path / "s.pt2", device="cuda").activate()


@pytest.mark.gpu
@pytest.mark.parametrize("options", [{}, {"half": True}, {"half": True, "channels_last": True},
                                     {"cuda_graph": True}])
def test_cuda_variants(tmp_path: Path, options: dict) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this host")
    path = tiny_segmenter_program(tmp_path / "s.pt2", SEG_SIZE)
    image = np.ones((1, 1, SEG_SIZE, SEG_SIZE), np.float32)
    image[..., 20:40, 20:40] = 0.0
    with TorchBackend(path, device="cpu") as cpu, TorchBackend(path, device="cuda", **options) as gpu:
        expected = cpu.infer({"image": image})["lesion_prob"]
        for _ in range(3):  # graph capture on the first call, replay after
            got = gpu.infer({"image": image})["lesion_prob"]
    np.testing.assert_allclose(got, expected, atol=2e-3 if options.get("half") else 1e-5)
