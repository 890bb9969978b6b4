"""Inference backends behind one small interface, chosen by name from a plain registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_sdk.backends.auto import BackendChoice, choose_backend
from edge_sdk.backends.base import Backend, TensorSpec
from edge_sdk.backends.onnxruntime_backend import OnnxRuntimeBackend
from edge_sdk.backends.openvino_backend import OpenVINOBackend
from edge_sdk.backends.tensorrt_backend import TensorRTBackend
from edge_sdk.backends.torch_backend import TorchBackend
from edge_sdk.errors import ConfigError

BACKENDS: dict[str, type[Backend]] = {
    "onnxruntime": OnnxRuntimeBackend,
    "openvino": OpenVINOBackend,
    "tensorrt": TensorRTBackend,
    "torch": TorchBackend,
}
"""Backend kind → class. Frameworks are imported when a backend activates, not here.
``"auto"`` is accepted wherever a kind is (see :func:`choose_backend`)."""


def _lookup(kind: str) -> type[Backend]:
    try:
        return BACKENDS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown backend {kind!r}; known backends: {sorted(BACKENDS)} (or 'auto')"
        ) from None


def load_backend(kind: str, model_path: str | Path, **options: Any) -> Backend:
    """Create (not yet activate) a backend of ``kind`` for one model file.

    Raises:
        ConfigError: ``kind`` is unknown; the message lists the known kinds.
    """
    return _lookup(kind).create(model_path, **options)


def backend_for_bundle(kind: str, bundle: Any, role: str, **options: Any) -> Backend:
    """Create a backend of ``kind`` for the ``role`` net of a loaded bundle (the ONNX model, or
    the artifact that kind runs: a TensorRT plan, a torch program)."""
    return _lookup(kind).from_bundle(bundle, role, **options)


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendChoice",
    "OnnxRuntimeBackend",
    "OpenVINOBackend",
    "TensorRTBackend",
    "TensorSpec",
    "TorchBackend",
    "backend_for_bundle",
    "choose_backend",
    "load_backend",
]
