from __future__ import annotations

import pytest

from edge_sdk.backends import choose_backend


@pytest.mark.parametrize(
    ("providers", "tensorrt_ok", "gpu", "kind", "providers_chosen", "reason"),
    [
        (["CPUExecutionProvider"], True, "NVIDIA H100", "tensorrt", None, "TensorRT is installed"),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], False, None, "onnxruntime",
         ["CUDAExecutionProvider", "CPUExecutionProvider"], "TensorRT is not installed"),
        (["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], False, None,
         "onnxruntime", ["TensorrtExecutionProvider", "CPUExecutionProvider"], "offers Tensorrt"),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], True, None, "onnxruntime",
         ["CUDAExecutionProvider", "CPUExecutionProvider"], "no CUDA GPU was found"),
        (["CPUExecutionProvider"], False, None, "onnxruntime", ["CPUExecutionProvider"], "the CPU"),
    ],
)
def test_auto_order(providers, tensorrt_ok, gpu, kind, providers_chosen, reason) -> None:
    choice = choose_backend("auto", providers, tensorrt_ok=tensorrt_ok, gpu=gpu)
    assert choice.kind == kind and reason in choice.reason
    assert choice.options.get("providers") == providers_chosen


def test_explicit_kind_passes_through() -> None:
    assert choose_backend("torch").kind == "torch"


def test_auto_on_this_machine_runs(tiny_bundle_dir) -> None:
    from edge_sdk import Pipeline
    from edge_sdk.testing import synthetic_frame

    with Pipeline(tiny_bundle_dir, backend="auto") as pipeline:
        assert pipeline.backend_kind in ("onnxruntime", "tensorrt")
        assert pipeline.backend_choice.reason
        assert len(pipeline.process(synthetic_frame()).lesions) == 1
