"""``benchmarks/gpu_check.py``'s cuda-python checks (findings 1, 5, 8) run here on the
cuda-python fake, so that the first GPU lent spends its minutes on the hardware, not on a
typo; its TensorRT checks must say "skipped" where TensorRT is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.tensorrt import fakes

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["pinned_ownership", "graph_capture", "engine_keys"])
def test_cuda_python_checks_pass_on_the_fake(gpu_check, name: str, monkeypatch) -> None:
    fakes.install(monkeypatch, gpu="NVIDIA H200")
    detail = getattr(gpu_check, name)()
    assert not detail.startswith("skipped")


def test_pinned_check_catches_a_non_owning_view(gpu_check, monkeypatch) -> None:
    """Guard against a vacuous check: with the block freed under the view, it must fail."""
    from edge_sdk.tensorrt import cuda

    _, rt = fakes.install(monkeypatch)
    def free_under_the_view(self) -> None:  # the old PinnedBuffer.free
        if self._allocation is not None:
            self._allocation._finalizer.detach()
            rt.cudaFreeHost(self.ptr)

    monkeypatch.setattr(cuda.PinnedBuffer, "free", free_under_the_view)
    with pytest.raises(RuntimeError, match="intact=False"):
        gpu_check.pinned_ownership()


def test_tensorrt_checks_skip_without_tensorrt(gpu_check, tmp_path: Path) -> None:
    from edge_sdk.tensorrt.compat import tensorrt_problem

    if tensorrt_problem() is None:
        pytest.skip("TensorRT is installed here")
    assert gpu_check.timing_cache_mismatch(tmp_path).startswith("skipped: needs TensorRT")
    assert gpu_check.mirrored_crops(tmp_path).startswith("skipped: needs TensorRT")
