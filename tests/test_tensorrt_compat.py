"""TensorRT version differences, exercised with small fakes of the differences only.

Each fake carries just the members whose presence changes between TensorRT 9, 10.x and 11
(builder flags, the strongly typed network flag, the progress monitor) — never an engine.
"""

from __future__ import annotations

import enum
from types import SimpleNamespace

import pytest

from edge_sdk import BackendError, ConfigError
from edge_sdk.tensorrt_compat import (
    BuildPlan,
    build_plan,
    check_engine_compatible,
    engine_file_name,
    major_minor,
    network_flags,
    supports_progress_monitor,
)


def fake_trt(flags: tuple[str, ...], strongly_typed: bool, monitor: bool) -> SimpleNamespace:
    builder_flag = enum.Enum("BuilderFlag", {name: i for i, name in enumerate(flags + ("GPU_FALLBACK",))})
    network = {"EXPLICIT_BATCH": 0} | ({"STRONGLY_TYPED": 1} if strongly_typed else {})
    module = SimpleNamespace(BuilderFlag=builder_flag,
                             NetworkDefinitionCreationFlag=enum.IntEnum("Flag", network))
    if monitor:
        module.IProgressMonitor = object
    return module


TRT9 = fake_trt(("FP16", "INT8"), strongly_typed=False, monitor=False)
TRT10 = fake_trt(("FP16", "INT8", "BF16"), strongly_typed=True, monitor=True)
TRT11 = fake_trt(("BF16",), strongly_typed=True, monitor=True)


@pytest.mark.parametrize(
    ("trt", "precision", "onnx_precision", "expected"),
    [
        (TRT10, "int8", "int8", BuildPlan(True, (), "explicit quantization: strongly typed network from Q/DQ")),
        (TRT11, "int8", "int8", BuildPlan(True, (), "explicit quantization: strongly typed network from Q/DQ")),
        (TRT9, "int8", "int8", BuildPlan(False, ("INT8", "FP16"), "explicit Q/DQ, INT8 flag (no strong typing)")),
        (TRT10, "fp16", "fp32", BuildPlan(False, ("FP16",), "FP16 builder flag")),
        (TRT10, "fp16", "fp16", BuildPlan(False, ("FP16",), "FP16 builder flag")),
        (TRT11, "fp16", "fp16", BuildPlan(True, (), "strongly typed network from the fp16 ONNX")),
        (TRT11, "fp32", "fp32", BuildPlan(False, (), "fp32")),
    ],
)
def test_build_plan(trt, precision, onnx_precision, expected) -> None:
    assert build_plan(trt, precision, onnx_precision) == expected


@pytest.mark.parametrize(
    ("trt", "precision", "onnx_precision", "match"),
    [
        (TRT11, "fp16", "fp32", "no FP16 builder flag"),
        (TRT10, "int8", "fp32", "needs the bundle's int8-trt"),
        (TRT10, "int4", "int8", "expected one of"),
    ],
)
def test_build_plan_refusals(trt, precision, onnx_precision, match) -> None:
    with pytest.raises(ConfigError, match=match):
        build_plan(trt, precision, onnx_precision)


def test_network_flags_and_monitor() -> None:
    assert network_flags(TRT11, BuildPlan(True, (), "")) == 1 << 1
    assert network_flags(TRT10, BuildPlan(False, ("FP16",), "")) == 0
    assert supports_progress_monitor(TRT10) and not supports_progress_monitor(TRT9)


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
