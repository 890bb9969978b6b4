"""What differs between TensorRT versions, detected from the module itself (not its version).

TensorRT 10.1 deprecated implicit INT8 calibration; TensorRT 11 removed the FP16/INT8 builder
flags (networks are always strongly typed there, ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``
is 0 and ignored) and, in 11.0–11.3, DLA support. JetPack 6 ships 10.3. Every difference the SDK
depends on is asked here, by feature, so that the builder and backend have no version branches
of their own and the tests can exercise each side with a fake of the difference.

This is the bottom of the package: it imports nothing of ``edge_sdk.tensorrt``
(compat → cuda → build → cache, the backend on top).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from edge_sdk.errors import BackendError, ConfigError, MissingDependencyError

ENGINE_PRECISIONS = ("fp32", "fp16", "int8")


def tensorrt_problem() -> str | None:
    """Why TensorRT cannot be used here, or None when it imports with its runtime library."""
    try:
        import tensorrt
    except ImportError as exc:
        return f"TensorRT is not importable ({exc})"
    if not hasattr(tensorrt, "Runtime"):
        # e.g. only the type stubs (a 'tensorrt' folder of .pyi files) are installed
        return "the 'tensorrt' module found has no runtime (type stubs only?)"
    return None


def require_tensorrt() -> None:
    """Raise :class:`MissingDependencyError` naming the extra when TensorRT is not usable."""
    problem = tensorrt_problem()
    if problem:
        raise MissingDependencyError(
            f"{problem}. Fix: pip install 'edge-sdk[tensorrt]' on a machine with an NVIDIA GPU "
            "(on Jetson, TensorRT comes with JetPack: use the system Python or a venv created "
            "with --system-site-packages)"
        )


@functools.cache
def _logger_for(trt: Any) -> Any:
    return trt.Logger(trt.Logger.WARNING)


def logger(trt: Any) -> Any:
    """The one ``trt.Logger`` of the process (TensorRT warns when a second one is passed to a
    builder or runtime: its logger is process-wide and the first one wins)."""
    return _logger_for(trt)


def has_builder_flag(trt: Any, name: str) -> bool:
    """True when ``trt.BuilderFlag`` still has ``name`` (FP16/INT8 are gone in TensorRT 11)."""
    return name in getattr(getattr(trt, "BuilderFlag", None), "__members__", {})


def supports_weak_typing(trt: Any) -> bool:
    """True where networks may be weakly typed (precision chosen by builder flags): TensorRT
    ≤ 10.x. TensorRT 11 is always strongly typed and has no FP16/INT8 flags."""
    return has_builder_flag(trt, "FP16")


def supports_progress_monitor(trt: Any) -> bool:
    """``IProgressMonitor`` arrived in TensorRT 10.0."""
    return hasattr(trt, "IProgressMonitor")


def tensorrt_version(trt: Any) -> str:
    return str(getattr(trt, "__version__", "unknown"))


@dataclass(frozen=True)
class BuildPlan:
    """How to build a network of a given precision with this TensorRT.

    Attributes:
        strongly_typed: types come from the ONNX (Q/DQ for INT8, fp16 tensors for FP16), not
            from builder flags.
        builder_flags: names of ``trt.BuilderFlag`` members to set.
        note: why, for the build log and the engine's metadata.
    """

    strongly_typed: bool
    builder_flags: tuple[str, ...]
    note: str


def build_plan(trt: Any, precision: str, onnx_precision: str, dla: bool = False) -> BuildPlan:
    """Choose the precision mechanism for ``precision`` given the ONNX file's own precision.

    - int8 (explicit quantization from the Q/DQ model, never an implicit calibrator):
      on TensorRT ≤ 10.x a *weakly* typed network with the INT8 and FP16 flags, so that layers
      outside Q/DQ pairs may run in fp16 (a strongly typed 10.x network would run them all in
      fp32); on 11.x, where weak typing is gone, a strongly typed network in which those layers
      run in the ONNX's float type (fp32 unless the Q/DQ model was exported with fp16 float
      regions, which this SDK's toolchain does not do).
    - fp16: the ``FP16`` flag where it exists (≤ 10.x); a strongly typed network from an fp16
      ONNX where it does not (11.x).
    - fp32: a plain network.
    - DLA (``dla=True``): the way trtexec builds them (``--int8 --fp16 --useDLACore
      --allowGPUFallback``): weakly typed with GPU fallback; fp16 or int8 only.

    Raises:
        ConfigError: the combination cannot be built with this TensorRT (the message says which
            ONNX or option to give instead).
    """
    if precision not in ENGINE_PRECISIONS:
        raise ConfigError(f"engine precision {precision!r}; expected one of {list(ENGINE_PRECISIONS)}")
    if precision == "int8" and onnx_precision != "int8":
        raise ConfigError("an int8 engine needs the bundle's int8-trt (Q/DQ) ONNX; this bundle's "
                          f"model is {onnx_precision}. Fix: build from the int8-trt bundle")
    weak = supports_weak_typing(trt)
    if dla:
        if precision == "fp32":
            raise ConfigError("DLA runs fp16 and int8 layers only; fp32 was asked for. Fix: "
                              "--precision fp16 (or int8 with an int8-trt bundle), or drop --dla")
        if not weak or not has_builder_flag(trt, "GPU_FALLBACK"):
            raise ConfigError(
                f"TensorRT {tensorrt_version(trt)} cannot build DLA engines (TensorRT 11.0–11.3 "
                "has no DLA support). Fix: drop --dla, or use JetPack 6's TensorRT 10.3")
        flags = ("INT8", "FP16") if precision == "int8" else ("FP16",)
        return BuildPlan(False, flags + ("GPU_FALLBACK",),
                         f"DLA {precision}: weakly typed, {'+'.join(flags)}, GPU fallback")
    if precision == "int8":
        if weak:
            return BuildPlan(False, ("INT8", "FP16"),
                             "explicit Q/DQ, weakly typed with INT8+FP16 (float layers may run fp16)")
        return BuildPlan(True, (), "explicit Q/DQ, strongly typed (float layers in the ONNX's "
                                   "float type)")
    if precision == "fp16":
        if weak:
            return BuildPlan(False, ("FP16",), "FP16 builder flag")
        if onnx_precision != "fp16":
            raise ConfigError("this TensorRT has no FP16 builder flag (TensorRT 11+): an fp16 engine "
                              "needs the fp16 ONNX. Fix: build from the bundle's fp16 target")
        return BuildPlan(True, (), "strongly typed network from the fp16 ONNX")
    return BuildPlan(False, (), "fp32")


def network_flags(trt: Any, plan: BuildPlan) -> int:
    """The ``create_network`` flags for ``plan``.

    EXPLICIT_BATCH is the default since 10.0. ``STRONGLY_TYPED`` is asked for only where weak
    typing still exists (≤ 10.x); TensorRT 11 is always strongly typed, and there the enum
    member is 0 and ignored (NvInfer.h 11.1), so no flag is passed.
    """
    if plan.strongly_typed and supports_weak_typing(trt):
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
