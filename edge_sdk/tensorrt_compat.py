"""What differs between TensorRT versions, detected from the module itself (not its version).

TensorRT 10.1 deprecated implicit INT8 calibration; TensorRT 11 removed the FP16/INT8 builder
flags in favour of strongly typed networks. JetPack 6 ships 10.3. Every difference the SDK
depends on is asked here, by feature, so that the builder and backend have no version branches
of their own and the tests can exercise each side with a small fake of the difference only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from edge_sdk.errors import BackendError, ConfigError

ENGINE_PRECISIONS = ("fp32", "fp16", "int8")


def has_builder_flag(trt: Any, name: str) -> bool:
    """True when ``trt.BuilderFlag`` still has ``name`` (FP16/INT8 are gone in TensorRT 11)."""
    return name in getattr(getattr(trt, "BuilderFlag", None), "__members__", {})


def supports_strongly_typed(trt: Any) -> bool:
    flags = getattr(getattr(trt, "NetworkDefinitionCreationFlag", None), "__members__", {})
    return "STRONGLY_TYPED" in flags


def supports_progress_monitor(trt: Any) -> bool:
    """``IProgressMonitor`` arrived in TensorRT 10.0."""
    return hasattr(trt, "IProgressMonitor")


@dataclass(frozen=True)
class BuildPlan:
    """How to build a network of a given precision with this TensorRT.

    Attributes:
        strongly_typed: create the network with ``STRONGLY_TYPED`` (types come from the ONNX:
            Q/DQ for INT8, fp16 tensors for FP16).
        builder_flags: names of ``trt.BuilderFlag`` members to set.
        note: why, for the build log.
    """

    strongly_typed: bool
    builder_flags: tuple[str, ...]
    note: str


def build_plan(trt: Any, precision: str, onnx_precision: str) -> BuildPlan:
    """Choose the precision mechanism for ``precision`` given the ONNX file's own precision.

    - int8: explicit quantization — a strongly typed network from the Q/DQ model (no implicit
      calibrator; those are deprecated since 10.1 and removed in 11).
    - fp16: the ``FP16`` builder flag on an fp32/fp16 ONNX where the flag exists (10.x); a strongly
      typed network from an fp16 ONNX where it does not (11).
    - fp32: a plain network.

    Raises:
        ConfigError: the combination cannot be built with this TensorRT (the message says which
            ONNX to give instead).
    """
    if precision not in ENGINE_PRECISIONS:
        raise ConfigError(f"engine precision {precision!r}; expected one of {list(ENGINE_PRECISIONS)}")
    if precision == "int8":
        if onnx_precision != "int8":
            raise ConfigError("an int8 engine needs the bundle's int8-trt (Q/DQ) ONNX; this bundle's "
                              f"model is {onnx_precision}. Fix: build from the int8-trt bundle")
        if not supports_strongly_typed(trt):
            return BuildPlan(False, ("INT8", "FP16"), "explicit Q/DQ, INT8 flag (no strong typing)")
        return BuildPlan(True, (), "explicit quantization: strongly typed network from Q/DQ")
    if precision == "fp16":
        if has_builder_flag(trt, "FP16"):
            return BuildPlan(False, ("FP16",), "FP16 builder flag")
        if onnx_precision != "fp16":
            raise ConfigError("this TensorRT has no FP16 builder flag (TensorRT 11+): an fp16 engine "
                              "needs the fp16 ONNX. Fix: build from the bundle's fp16 target")
        return BuildPlan(True, (), "strongly typed network from the fp16 ONNX")
    return BuildPlan(False, (), "fp32")


def network_flags(trt: Any, plan: BuildPlan) -> int:
    """The ``create_network`` flags for ``plan`` (EXPLICIT_BATCH is the default since 10.0)."""
    if plan.strongly_typed:
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return 0


def major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        raise ConfigError(f"cannot read a TensorRT version from {version!r}")
    return int(match.group(1)), int(match.group(2))


def check_engine_compatible(meta: dict[str, Any], tensorrt_version: str,
                            compute_capability: str, bundle_hint: str = "DIR") -> None:
    """Refuse an engine built for another TensorRT or GPU, before deserializing it.

    Serialized plans are tied to the exact TensorRT version and to the GPU's compute capability
    (unless built version- or hardware-compatible); loading one elsewhere fails deep inside
    TensorRT with an opaque message, so compare first and say what to do.

    Raises:
        BackendError: naming both sides and the rebuild command.
    """
    built_trt = str(meta.get("tensorrt_version", "unknown"))
    built_cc = str(meta.get("compute_capability", "unknown"))
    problems = []
    if built_trt != tensorrt_version:
        problems.append(f"TensorRT {built_trt} (this host: {tensorrt_version})")
    if built_cc != compute_capability:
        problems.append(f"compute capability {built_cc} (this host: {compute_capability})")
    if problems:
        raise BackendError(
            "TensorRT engine was built for " + " and ".join(problems) + ". Engines are tied to "
            f"both. Fix: edge-sdk build-engine --bundle {bundle_hint} (on this device)"
        )


def engine_file_name(role: str, precision: str, tensorrt_version: str, compute_capability: str,
                     gpu_name: str, max_batch: int, dla_core: int | None = None) -> str:
    """A plan file name that says what the engine depends on.

    Example:
        >>> engine_file_name("classifier", "int8", "10.3.0", "8.7", "Orin (nvgpu)", 4)
        'classifier.int8.trt10.3.0.sm87.orin-nvgpu.b4.plan'
    """
    gpu = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-") or "gpu"
    dla = f".dla{dla_core}" if dla_core is not None else ""
    sm = compute_capability.replace(".", "")
    return f"{role}.{precision}.trt{tensorrt_version}.sm{sm}.{gpu}.b{max_batch}{dla}.plan"
