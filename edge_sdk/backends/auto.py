"""``backend="auto"``: TensorRT, then ONNX Runtime's TensorRT/CUDA providers, then the CPU."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BackendChoice:
    """The backend picked, its options, and why (shown by ``edge-sdk info``)."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def _cuda_device() -> tuple[str | None, str]:
    """Name of CUDA device 0 through cuda-python, or None and the binding's own error text
    (no bindings, a driver too old for them, no device)."""
    try:
        from edge_sdk.tensorrt.cuda import device_properties

        return str(device_properties(0)["name"]), ""
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable GPU"; its text says why
        return None, f"{type(exc).__name__}: {exc}"


def choose_backend(requested: str = "auto", ort_providers: list[str] | None = None,
                   tensorrt_ok: bool | None = None, gpu: str | None = None) -> BackendChoice:
    """Resolve ``requested``; only ``"auto"`` is decided here, any other kind passes through.

    Args:
        requested: A backend kind or ``"auto"``.
        ort_providers: ONNX Runtime's available providers (default: asked from onnxruntime).
        tensorrt_ok: Whether TensorRT imports (default: checked).
        gpu: Name of the CUDA device, None without one (default: asked through cuda-python).

    Example:
        >>> choose_backend("auto", ["CPUExecutionProvider"], tensorrt_ok=False, gpu=None).kind
        'onnxruntime'
    """
    if requested != "auto":
        return BackendChoice(requested, {}, "asked for explicitly")
    trt_problem = "TensorRT is not installed"
    if tensorrt_ok is None:
        from edge_sdk.tensorrt.compat import tensorrt_problem

        trt_problem = tensorrt_problem() or ""
        tensorrt_ok = not trt_problem
    gpu_problem = "no CUDA GPU was found"
    if gpu is None and tensorrt_ok:
        gpu, found_problem = _cuda_device()
        if found_problem:
            gpu_problem = f"no CUDA GPU was found ({found_problem})"
    if tensorrt_ok and gpu:
        return BackendChoice("tensorrt", {}, f"TensorRT is installed and a CUDA GPU ({gpu}) is present")
    if ort_providers is None:
        import onnxruntime

        ort_providers = list(onnxruntime.get_available_providers())
    why_not_trt = trt_problem if not tensorrt_ok else gpu_problem
    for provider in ("TensorrtExecutionProvider", "CUDAExecutionProvider"):
        if provider in ort_providers:
            return BackendChoice(
                "onnxruntime", {"providers": [provider, "CPUExecutionProvider"]},
                f"{why_not_trt}; ONNX Runtime offers {provider}")
    return BackendChoice("onnxruntime", {"providers": ["CPUExecutionProvider"]},
                         f"{why_not_trt} and ONNX Runtime has no GPU provider: the CPU")
