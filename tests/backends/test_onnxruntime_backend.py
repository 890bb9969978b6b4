from __future__ import annotations

from pathlib import Path

import pytest

from edge_sdk import BACKENDS, BackendError, ConfigError, OnnxRuntimeBackend, load_backend
from edge_sdk.backends.onnxruntime_backend import choose_providers, default_threads
from tests.backends.contract import BackendContract


class TestOnnxRuntimeContract(BackendContract):
    def make_backend(self, model_path: Path) -> OnnxRuntimeBackend:
        return OnnxRuntimeBackend(model_path, threads=1, providers=["CPUExecutionProvider"])


def test_registry_lists_known_kinds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown backend 'tensorflow'; known backends: \['onnxruntime'"):
        load_backend("tensorflow", tmp_path / "m.onnx")
    assert isinstance(load_backend("onnxruntime", tmp_path / "m.onnx"), BACKENDS["onnxruntime"])


def test_unavailable_provider_lists_available(tmp_path: Path) -> None:
    backend = OnnxRuntimeBackend(tmp_path / "m.onnx", providers=["NoSuchExecutionProvider"])
    with pytest.raises(ConfigError, match=r"not available.*available: \[.*CPUExecutionProvider"):
        backend.activate()


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        (None, ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
        (None, ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"],
         ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]),
        (["CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"],
         ["CPUExecutionProvider"]),
    ],
)
def test_choose_providers(requested, available, expected) -> None:
    assert choose_providers(requested, available) == expected


def test_threads_default_and_validation(tmp_path: Path) -> None:
    assert OnnxRuntimeBackend(tmp_path / "m.onnx").threads == default_threads() >= 1
    with pytest.raises(ConfigError, match="threads is 0"):
        OnnxRuntimeBackend(tmp_path / "m.onnx", threads=0)


def test_missing_or_corrupt_model(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="does not exist"):
        OnnxRuntimeBackend(tmp_path / "missing.onnx").activate()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(BackendError, match="could not load"):
        OnnxRuntimeBackend(bad).activate()
