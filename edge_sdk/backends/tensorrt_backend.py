"""TensorRT backend: runs a serialized plan with the name-based I/O API of TensorRT 10/11.

Device and pinned host buffers are allocated once and grown only when a larger batch arrives;
shapes and addresses are set only when they change; one stream, one synchronize per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.backends.base import Backend, TensorSpec
from edge_sdk.errors import BackendError, ConfigError


class TensorRTBackend(Backend):
    """Runs a TensorRT engine on an NVIDIA GPU (the ``tensorrt`` extra).

    Args:
        engine_path: The serialized plan.
        meta: What the engine was built for (``tensorrt_version``, ``compute_capability``), from
            the bundle manifest; checked against this host before deserializing.
        device: CUDA device index.
        cuda_graph: Capture the enqueue into a CUDA graph and replay it while shapes stay the same.
        time_transfers: Record CUDA events to split each call into ``h2d`` / ``compute`` /
            ``d2h`` (read :attr:`last_split_ms`).
        bundle_hint: Bundle path shown in the "rebuild" advice of a compatibility error.

    Output arrays are views of pinned host buffers reused by the next call: copy to keep them.
    """

    name = "tensorrt"

    def __init__(self, engine_path: str | Path, meta: Mapping[str, Any] | None = None,
                 device: int = 0, cuda_graph: bool = False, time_transfers: bool = False,
                 bundle_hint: str = "DIR") -> None:
        super().__init__()
        self.engine_path = Path(engine_path)
        self.meta = dict(meta or {})
        self.device = device
        self.cuda_graph = cuda_graph
        self.time_transfers = time_transfers
        self.bundle_hint = bundle_hint
        self.last_split_ms: dict[str, float] = {}
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._timer: Any = None
        self._device_buffers: dict[str, Any] = {}
        self._host_buffers: dict[str, Any] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._graph: Any = None

    def _activate(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        from edge_sdk.engine_build import require_tensorrt

        require_tensorrt()
        import tensorrt as trt

        from edge_sdk.cuda_runtime import (
            DeviceBuffer,
            EventTimer,
            PinnedBuffer,
            Stream,
            check,
            cudart,
            device_properties,
        )
        from edge_sdk.tensorrt_compat import check_engine_compatible

        host = device_properties(self.device)
        if self.meta:
            check_engine_compatible(self.meta, trt.__version__, host["compute_capability"],
                                    self.bundle_hint)
        if not self.engine_path.is_file():
            raise BackendError(f"tensorrt: engine file {self.engine_path} does not exist")
        check(cudart().cudaSetDevice(self.device), "cudaSetDevice")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            raise BackendError(
                f"tensorrt: could not deserialize {self.engine_path} (built for another TensorRT "
                f"or GPU?). Fix: edge-sdk build-engine --bundle {self.bundle_hint}")
        self._engine = engine
        self._context = engine.create_execution_context()
        self._stream = Stream()
        if self.time_transfers:
            self._timer = EventTimer(("h2d", "compute", "d2h"))
        inputs, outputs = [], []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            dims = engine.get_tensor_shape(name)
            shape = tuple(None if dims[j] < 0 else int(dims[j]) for j in range(len(dims)))
            spec = TensorSpec(name, shape, dtype)
            self._device_buffers[name] = DeviceBuffer()
            self._host_buffers[name] = PinnedBuffer()
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                inputs.append(spec)
            else:
                outputs.append(spec)
        return tuple(inputs), tuple(outputs)

    def _bind(self, name: str, nbytes: int) -> bool:
        """Grow buffers if needed; (re)set the tensor address when it changed."""
        self._host_buffers[name].ensure(nbytes)
        moved = self._device_buffers[name].ensure(nbytes)
        if moved and not self._context.set_tensor_address(name, self._device_buffers[name].ptr):
            raise BackendError(f"tensorrt: set_tensor_address failed for '{name}'")
        return moved

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        stream, context = self._stream, self._context
        changed = False
        for spec in self._inputs:
            array = feed[spec.name]
            if self._shapes.get(spec.name) != array.shape:
                if not context.set_input_shape(spec.name, array.shape):
                    raise BackendError(
                        f"tensorrt: input '{spec.name}' shape {array.shape} is outside the "
                        "engine's optimization profile. Fix: rebuild with a larger --max-lesions")
                self._shapes[spec.name] = array.shape
                changed = True
            changed |= self._bind(spec.name, array.nbytes)
            np.copyto(self._host_buffers[spec.name].view(array.shape, spec.dtype), array)
        out_shapes = {}
        for spec in self._outputs:
            dims = context.get_tensor_shape(spec.name)
            shape = tuple(int(dims[j]) for j in range(len(dims)))
            out_shapes[spec.name] = shape
            changed |= self._bind(spec.name, int(np.prod(shape)) * spec.dtype.itemsize)
        if changed:
            self._graph = None
        timer = self._timer
        if timer:
            timer.record(0, stream)
        for spec in self._inputs:
            stream.copy_to_device(self._device_buffers[spec.name].ptr,
                                  self._host_buffers[spec.name].ptr, feed[spec.name].nbytes)
        if timer:
            timer.record(1, stream)
        self._enqueue()
        if timer:
            timer.record(2, stream)
        for spec in self._outputs:
            nbytes = int(np.prod(out_shapes[spec.name])) * spec.dtype.itemsize
            stream.copy_to_host(self._host_buffers[spec.name].ptr,
                                self._device_buffers[spec.name].ptr, nbytes)
        if timer:
            timer.record(3, stream)
        stream.synchronize()
        if timer:
            self.last_split_ms = timer.elapsed_ms()
        return {spec.name: self._host_buffers[spec.name].view(out_shapes[spec.name], spec.dtype)
                for spec in self._outputs}

    def _enqueue(self) -> None:
        stream = self._stream
        if not self.cuda_graph:
            if not self._context.execute_async_v3(stream.as_int):
                raise BackendError("tensorrt: execute_async_v3 failed")
            return
        if self._graph is None:
            # TensorRT's first enqueue after a shape change may allocate; run it once uncaptured.
            if not self._context.execute_async_v3(stream.as_int):
                raise BackendError("tensorrt: execute_async_v3 failed")
            stream.begin_capture()
            self._context.execute_async_v3(stream.as_int)
            self._graph = stream.end_capture()
        else:
            stream.launch(self._graph)

    def _deactivate(self) -> None:
        for buffers in (self._device_buffers, self._host_buffers):
            for buffer in buffers.values():
                buffer.free()
            buffers.clear()
        if self._timer:
            self._timer.destroy()
            self._timer = None
        if self._stream is not None:
            self._stream.destroy()
            self._stream = None
        self._graph = None
        self._shapes.clear()
        self._context = None
        self._engine = None

    @classmethod
    def from_bundle(cls, bundle: Any, role: str, **options: Any) -> TensorRTBackend:
        """A backend for ``role`` from a compatible engine of the bundle, building one (and
        caching it beside the bundle) when there is none."""
        from edge_sdk.engine_cache import engine_for

        precision = options.pop("precision", None)
        build_options = options.pop("build_options", {})
        unknown = sorted(set(options) - {"device", "cuda_graph", "time_transfers"})
        if unknown:
            raise ConfigError(f"tensorrt backend: unknown option(s) {unknown}; accepted: "
                              "device, cuda_graph, time_transfers, precision, build_options")
        path, meta = engine_for(bundle, role, precision=precision, **build_options)
        return cls(path, meta=meta, bundle_hint=str(bundle.root), **options)
