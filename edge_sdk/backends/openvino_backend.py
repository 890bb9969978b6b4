"""OpenVINO backend: Intel's runtime on the same ONNX files (the CPU peer in the benchmarks).

In the ``bench`` extra. OpenVINO picks bf16 by default on CPUs that have it; this backend asks
for f32 unless told otherwise, and reports the precision OpenVINO actually used, so precision
is never lowered silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.backends.base import Backend, TensorSpec
from edge_sdk.backends.onnxruntime_backend import default_threads
from edge_sdk.errors import BackendError, ConfigError

_TYPES = {"f32": np.float32, "f16": np.float16, "u8": np.uint8, "i8": np.int8, "i64": np.int64,
          "i32": np.int32}


class OpenVINOBackend(Backend):
    """Runs an ONNX model with OpenVINO.

    Args:
        model_path: The ``.onnx`` file (fp32 or Q/DQ int8; OpenVINO runs both).
        device: OpenVINO device, e.g. ``"CPU"`` or ``"GPU"``.
        threads: Inference threads (default: the cores this process may use).
        pinning: Pin the inference threads to cores. Off by default: the streaming runtime
            runs two nets at once, and two compiled models pinned to the same cores queue
            behind each other instead of sharing them.
        precision: ``"f32"`` (default), ``"bf16"``, ``"f16"``, or ``"default"`` for OpenVINO's
            own choice (bf16 on CPUs with AMX/AVX512-BF16). See :attr:`inference_precision`.
    """

    name = "openvino"

    def __init__(self, model_path: str | Path, device: str = "CPU", threads: int | None = None,
                 precision: str = "f32", pinning: bool = False) -> None:
        super().__init__()
        if precision not in ("f32", "bf16", "f16", "default"):
            raise ConfigError(f"openvino precision {precision!r}; expected f32, bf16, f16 or default")
        self.model_path = Path(model_path)
        self.device = device
        self.threads = threads or default_threads()
        self.precision = precision
        self.pinning = bool(pinning)
        self.inference_precision = "unknown"
        self._request: Any = None
        self._outputs_by_name: dict[str, Any] = {}

    def _activate(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        ov = import_optional("openvino", "bench", "The OpenVINO backend")
        if not self.model_path.is_file():
            raise BackendError(f"openvino: model file {self.model_path} does not exist")
        core = ov.Core()
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY",
                                  "INFERENCE_NUM_THREADS": self.threads,
                                  "ENABLE_CPU_PINNING": self.pinning}
        if self.precision != "default":
            config["INFERENCE_PRECISION_HINT"] = self.precision
        try:
            compiled = core.compile_model(core.read_model(str(self.model_path)), self.device, config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise BackendError(f"openvino could not compile {self.model_path} for "
                               f"{self.device}: {exc}") from exc
        used = compiled.get_property("INFERENCE_PRECISION_HINT")
        self.inference_precision = str(getattr(used, "get_type_name", lambda: used)())
        self._request = compiled.create_infer_request()

        def spec(port: Any) -> TensorSpec:
            shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
            dtype = np.dtype(_TYPES.get(port.get_element_type().get_type_name(), np.float32))
            return TensorSpec(port.get_any_name(), shape, dtype)

        self._outputs_by_name = {port.get_any_name(): port for port in compiled.outputs}
        return tuple(spec(p) for p in compiled.inputs), tuple(spec(p) for p in compiled.outputs)

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self._request.infer(dict(feed))
        return {name: np.asarray(results[port]) for name, port in self._outputs_by_name.items()}

    def _deactivate(self) -> None:
        self._request = None
        self._outputs_by_name = {}
