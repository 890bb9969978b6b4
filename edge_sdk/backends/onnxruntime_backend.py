"""ONNX Runtime backend: the embedded default (CPU), with CUDA/TensorRT execution providers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.backends.base import Backend, TensorSpec
from edge_sdk.errors import BackendError, ConfigError
from edge_sdk.thread_budget import usable_cores

PROVIDER_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
"""Execution providers tried in this order when none is named explicitly."""

_ORT_TYPES: dict[str, np.dtype[Any]] = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(uint8)": np.dtype(np.uint8),
    "tensor(int8)": np.dtype(np.int8),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
}


def _onnxruntime() -> Any:
    return import_optional("onnxruntime", "runtime", "The ONNX Runtime backend")


def default_threads() -> int:
    """Cores this process may run on (its CPU affinity): a session's threads when it runs alone
    (:func:`edge_sdk.thread_budget.usable_cores`)."""
    return usable_cores()


def available_providers() -> list[str]:
    """Execution providers this ONNX Runtime build offers."""
    return list(_onnxruntime().get_available_providers())


def choose_providers(requested: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Pick execution providers: the explicit list if given (all must exist), else by preference.

    Example:
        >>> choose_providers(None, ["CPUExecutionProvider", "CUDAExecutionProvider"])
        ['CUDAExecutionProvider', 'CPUExecutionProvider']
    """
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise ConfigError(
                f"execution provider(s) {missing} are not available in this onnxruntime build; "
                f"available: {list(available)}. Fix: pick from those, or install the "
                "onnxruntime-gpu package for CUDA/TensorRT providers"
            )
        return list(requested)
    return [p for p in PROVIDER_PREFERENCE if p in available] or list(available)


def _shape(dims: Sequence[Any]) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)


class OnnxRuntimeBackend(Backend):
    """Runs an ONNX model with ONNX Runtime.

    Args:
        model_path: The ``.onnx`` file.
        threads: Intra-op threads; default: the cores this process may use.
        spinning: Let the thread pool's idle threads spin (ORT's own default) instead of
            sleeping. Spinning saves a wake-up per operator, but a spinning pool takes the cores
            that another stage's session needs: off unless a session has the cores to itself
            (see :mod:`edge_sdk.thread_budget`).
        providers: Explicit execution providers (e.g. ``["CPUExecutionProvider"]``); default:
            the best available of TensorRT, CUDA, CPU.

    Example:
        >>> from edge_sdk.testing import tiny_segmenter_onnx
        >>> import numpy as np, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "seg.onnx"
        >>> _ = tiny_segmenter_onnx(path, size=64)
        >>> with OnnxRuntimeBackend(path, providers=["CPUExecutionProvider"]) as backend:
        ...     out = backend.infer({"image": np.zeros((1, 1, 64, 64), np.float32)})
        >>> out["lesion_prob"].shape
        (1, 1, 64, 64)
    """

    name = "onnxruntime"

    def __init__(
        self,
        model_path: str | Path,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        spinning: bool = False,
    ) -> None:
        super().__init__()
        self.model_path = Path(model_path)
        if threads is not None and threads < 1:
            raise ConfigError(f"threads is {threads}; expected an integer >= 1")
        self.threads = threads or default_threads()
        self.spinning = bool(spinning)
        self.requested_providers = list(providers) if providers else None
        self.providers: list[str] = []
        self._session: Any = None
        self._output_names: list[str] = []

    def _activate(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        ort = _onnxruntime()
        providers = choose_providers(self.requested_providers, ort.get_available_providers())
        if not self.model_path.is_file():
            raise BackendError(f"onnxruntime: model file {self.model_path} does not exist")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        spin = "1" if self.spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(self.model_path), options, providers=providers)
        except Exception as exc:  # ORT raises its own unrelated exception types
            raise BackendError(f"onnxruntime could not load {self.model_path}: {exc}") from exc
        self._session = session
        self.providers = list(session.get_providers())
        dropped = [p for p in (self.requested_providers or []) if p not in self.providers]
        if dropped:
            # ORT quietly falls back to the CPU when e.g. the CUDA libraries do not load
            raise BackendError(
                f"onnxruntime: execution provider(s) {dropped} were requested but could not be "
                f"enabled (active: {self.providers}); see ONNX Runtime's log above. Fix: install "
                "the matching CUDA/cuDNN/TensorRT libraries, or request CPUExecutionProvider")
        inputs = tuple(
            TensorSpec(i.name, _shape(i.shape), _ORT_TYPES.get(i.type, np.dtype(object)))
            for i in session.get_inputs()
        )
        outputs = tuple(
            TensorSpec(o.name, _shape(o.shape), _ORT_TYPES.get(o.type, np.dtype(object)))
            for o in session.get_outputs()
        )
        self._output_names = [o.name for o in outputs]
        return inputs, outputs

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self._session.run(self._output_names, dict(feed))
        return dict(zip(self._output_names, values))

    def _deactivate(self) -> None:
        self._session = None
