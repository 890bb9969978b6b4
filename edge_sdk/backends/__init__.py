"""Inference backends behind one small interface, chosen by name from a plain registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_sdk.backends.base import Backend, TensorSpec
from edge_sdk.backends.onnxruntime_backend import OnnxRuntimeBackend
from edge_sdk.errors import ConfigError

BACKENDS: dict[str, type[Backend]] = {
    "onnxruntime": OnnxRuntimeBackend,
}
"""Backend kind → class. Frameworks are imported when a backend activates, not here."""


def load_backend(kind: str, model_path: str | Path, **options: Any) -> Backend:
    """Create (not yet activate) a backend of ``kind`` for ``model_path``.

    Raises:
        ConfigError: ``kind`` is unknown; the message lists the known kinds.
    """
    try:
        cls = BACKENDS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown backend {kind!r}; known backends: {sorted(BACKENDS)}"
        ) from None
    return cls(model_path, **options)


__all__ = ["BACKENDS", "Backend", "OnnxRuntimeBackend", "TensorSpec", "load_backend"]
