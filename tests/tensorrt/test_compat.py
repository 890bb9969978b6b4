"""TensorRT version differences, exercised with the fakes of 9.x, 10.3 and 11.1
(``tests/tensorrt/fakes.py``: enum members and values as in each version's NvInfer.h)."""

from __future__ import annotations

import pytest

from edge_sdk import BackendError, ConfigError
from edge_sdk.tensorrt.compat import (
    BuildPlan,
    build_plan,
    check_engine_compatible,
    engine_file_name,
    logger,
    major_minor,
    network_flags,
    supports_progress_monitor,
    supports_weak_typing,
)
from tests.tensorrt.fakes import FakeCudart, fake_tensorrt

TRT9 = fake_tensorrt(FakeCudart(), "9.3.0")
TRT10 = fake_tensorrt(FakeCudart(), "10.3.0")
TRT11 = fake_tensorrt(FakeCudart(), "11.1.0")

INT8_WEAK = BuildPlan(False, ("INT8", "FP16"),
                      "explicit Q/DQ, weakly typed with INT8+FP16 (float layers may run fp16)")
INT8_STRONG = BuildPlan(True, (), "explicit Q/DQ, strongly typed (float layers in the ONNX's "
                                  "float type)")


@pytest.mark.parametrize(
    ("trt", "precision", "onnx_precision", "dla", "expected"),
    [
        # finding 6: on 10.x the Q/DQ network is weakly typed with FP16 too, so layers outside
        # Q/DQ pairs are not all left in fp32
        (TRT10, "int8", "int8", False, INT8_WEAK),
        (TRT9, "int8", "int8", False, INT8_WEAK),
        (TRT11, "int8", "int8", False, INT8_STRONG),
        (TRT10, "fp16", "fp32", False, BuildPlan(False, ("FP16",), "FP16 builder flag")),
        (TRT10, "fp16", "fp16", False, BuildPlan(False, ("FP16",), "FP16 builder flag")),
        (TRT11, "fp16", "fp16", False, BuildPlan(True, (), "strongly typed network from the fp16 ONNX")),
        (TRT11, "fp32", "fp32", False, BuildPlan(False, (), "fp32")),
        # finding 7: DLA engines the trtexec way
        (TRT10, "int8", "int8", True, BuildPlan(False, ("INT8", "FP16", "GPU_FALLBACK"),
                                                "DLA int8: weakly typed, INT8+FP16, GPU fallback")),
        (TRT10, "fp16", "fp32", True, BuildPlan(False, ("FP16", "GPU_FALLBACK"),
                                                "DLA fp16: weakly typed, FP16, GPU fallback")),
    ],
)
def test_build_plan(trt, precision, onnx_precision, dla, expected) -> None:
    assert build_plan(trt, precision, onnx_precision, dla) == expected


@pytest.mark.parametrize(
    ("trt", "precision", "onnx_precision", "dla", "match"),
    [
        (TRT11, "fp16", "fp32", False, "no FP16 builder flag"),
        (TRT10, "int8", "fp32", False, "needs the bundle's int8-trt"),
        (TRT10, "int4", "int8", False, "expected one of"),
        (TRT10, "fp32", "fp32", True, "DLA runs fp16 and int8 layers only"),
        (TRT11, "int8", "int8", True, r"TensorRT 11\.0–11\.3 has no DLA support"),
    ],
)
def test_build_plan_refusals(trt, precision, onnx_precision, dla, match) -> None:
    with pytest.raises(ConfigError, match=match):
        build_plan(trt, precision, onnx_precision, dla)


def test_network_flags_follow_each_versions_enum() -> None:
    """Finding 9: in 11.x STRONGLY_TYPED is 0 and ignored (always strongly typed): no flag is
    passed; where weak typing exists the flag's bit is the enum's value (1 in 10.x)."""
    assert int(TRT11.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 0
    assert network_flags(TRT11, BuildPlan(True, (), "")) == 0
    assert network_flags(TRT10, BuildPlan(True, (), "")) == 1 << 1
    assert network_flags(TRT10, BuildPlan(False, ("FP16",), "")) == 0
    assert supports_weak_typing(TRT10) and not supports_weak_typing(TRT11)
    assert supports_progress_monitor(TRT10) and not supports_progress_monitor(TRT9)


def test_one_logger_per_process() -> None:
    """Finding 11: TensorRT warns when a second logger is passed; one is made and reused."""
    trt = fake_tensorrt(FakeCudart(), "10.3.0")
    assert logger(trt) is logger(trt)
    assert len(trt.loggers) == 1


def test_engine_compatibility_message() -> None:
    meta = {"tensorrt_version": "10.3.0", "compute_capability": "8.7"}
    check_engine_compatible(meta, "10.3.0", "8.7")
    with pytest.raises(BackendError) as info:
        check_engine_compatible(meta, "10.13.0.35", "9.0", bundle_hint="/opt/bundle")
    message = str(info.value)
    assert "TensorRT 10.3.0 (this host: 10.13.0.35)" in message
    assert "compute capability 8.7 (this host: 9.0)" in message
    assert "edge-sdk build-engine --bundle /opt/bundle" in message


def test_names_and_versions() -> None:
    assert engine_file_name("segmenter", "fp16", "10.13.0.35", "9.0", "NVIDIA H100 80GB HBM3", 1, 0) == \
        "segmenter.fp16.trt10.13.0.35.sm90.nvidia-h100-80gb-hbm3.b1.dla0.plan"
    assert major_minor("10.3.0.30") == (10, 3)
    with pytest.raises(ConfigError):
        major_minor("ten")
