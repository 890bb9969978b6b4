"""TensorRT backend: runs a serialized plan with the name-based I/O API of TensorRT 10/11.

Device and pinned host buffers are allocated once and grown only when a larger batch arrives;
shapes and addresses are set only when they change; one stream, one synchronize per call.
With ``cuda_graph=True`` one executable graph is kept per input shape and replayed.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.backends.base import Backend, TensorSpec
from edge_sdk.errors import BackendError, ConfigError

FROM_BUNDLE_OPTIONS = ("device", "cuda_graph", "time_transfers", "precision", "max_lesions",
                       "pipeline_params", "build_options")


class TensorRTBackend(Backend):
    """Runs a TensorRT engine on an NVIDIA GPU (the ``tensorrt`` extra).

    Args:
        engine_path: The serialized plan.
        meta: What the engine was built for (``tensorrt_version``, ``compute_capability``,
            ``gpu``, ``dla_core``), from the bundle manifest; checked against this host before
            deserializing.
        device: CUDA device index (made current on every thread that calls :meth:`infer`).
        cuda_graph: Capture the enqueue into a CUDA graph per input shape and replay it; falls
            back to plain enqueues, with a warning, when capture fails.
        time_transfers: Record CUDA events to split each call into ``h2d`` / ``compute`` /
            ``d2h`` (read :attr:`last_split_ms`).
        bundle_hint: Bundle path shown in the "rebuild" advice of a compatibility error.

    Output arrays are views of pinned host buffers that the next call overwrites: copy to keep
    the values. They stay valid memory after the buffers grow or the backend deactivates (each
    view owns its pinned block), so holding one is safe; only its contents are not.
    """

    name = "tensorrt"
    sized_by_pipeline = True  # Pipeline passes its params: the engine's batch depends on them

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
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._timer: Any = None
        self._device_buffers: dict[str, Any] = {}
        self._host_buffers: dict[str, Any] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._batch_range: dict[str, tuple[int, int]] = {}
        self._graphs: dict[tuple[tuple[int, ...], ...], Any] = {}
        self._graphs_failed = False
        self._threads: set[int] = set()

    # ---- lifecycle --------------------------------------------------------------------------
    def _activate(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        from edge_sdk.tensorrt.compat import require_tensorrt

        require_tensorrt()
        try:
            return self._load()
        except BaseException:
            self._release()  # a half-made activation must not leak its stream, timer or memory
            raise

    def _load(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        import tensorrt as trt  # typed here: mypy checks these calls against tensorrt-stubs

        from edge_sdk.tensorrt.compat import check_engine_compatible, logger, tensorrt_version
        from edge_sdk.tensorrt.cuda import (
            DeviceBuffer,
            EventTimer,
            PinnedBuffer,
            Stream,
            device_properties,
            set_device,
        )

        host = device_properties(self.device)
        if self.meta:
            check_engine_compatible(self.meta, tensorrt_version(trt), host["compute_capability"],
                                    self.bundle_hint)
            built_on = self.meta.get("gpu")
            if built_on and built_on != host["name"]:
                warnings.warn(f"tensorrt: {self.engine_path.name} was tuned on {built_on}, this "
                              f"device is {host['name']}; it runs, maybe slower. Fix: edge-sdk "
                              f"build-engine --bundle {self.bundle_hint}", stacklevel=4)
        if not self.engine_path.is_file():
            raise BackendError(f"tensorrt: engine file {self.engine_path} does not exist. "
                               f"Fix: edge-sdk build-engine --bundle {self.bundle_hint}")
        set_device(self.device)
        self._threads = {threading.get_ident()}
        runtime = self._runtime = trt.Runtime(logger(trt))
        dla_core = self.meta.get("dla_core")
        if dla_core is not None:
            runtime.DLA_core = int(dla_core)  # a DLA plan runs on the core set here
        engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            raise BackendError(
                f"tensorrt: could not deserialize {self.engine_path} (built for another TensorRT "
                f"or GPU?). Fix: edge-sdk build-engine --bundle {self.bundle_hint}")
        self._engine = engine
        self._context = context = engine.create_execution_context()
        if context is None:
            raise BackendError(f"tensorrt: could not create an execution context for "
                               f"{self.engine_path.name} (GPU memory exhausted?). Fix: free GPU "
                               "memory or build with a smaller --workspace / --max-lesions")
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
                if shape and shape[0] is None:
                    low, _, high = engine.get_tensor_profile_shape(name, 0)
                    self._batch_range[name] = (int(low[0]), int(high[0]))
            else:
                outputs.append(spec)
        return tuple(inputs), tuple(outputs)

    def _deactivate(self) -> None:
        self._release()

    def _release(self) -> None:
        for graph in self._graphs.values():
            graph.destroy()
        self._graphs.clear()
        for buffers in (self._device_buffers, self._host_buffers):
            for buffer in buffers.values():
                buffer.free()
            buffers.clear()
        if self._timer is not None:
            self._timer.destroy()
            self._timer = None
        if self._stream is not None:
            self._stream.destroy()
            self._stream = None
        self._shapes.clear()
        self._batch_range.clear()
        self._graphs_failed = False
        # context before engine before runtime: each needs the next alive
        self._context = None
        self._engine = None
        self._runtime = None

    # ---- inference --------------------------------------------------------------------------
    def _bind(self, name: str, nbytes: int) -> bool:
        """Grow buffers if needed; (re)set the tensor address when it changed."""
        self._host_buffers[name].ensure(nbytes)
        moved = self._device_buffers[name].ensure(nbytes)
        if moved and not self._context.set_tensor_address(name, self._device_buffers[name].ptr):
            raise BackendError(f"tensorrt: set_tensor_address failed for '{name}'")
        return bool(moved)

    def _padded(self, name: str, array: np.ndarray) -> np.ndarray:
        """``array`` checked against the engine's batch range; padded with zeros to the batch
        of a static-batch (DLA) engine, whose extra outputs are dropped afterwards."""
        if name not in self._batch_range:
            return array
        low, high = self._batch_range[name]
        if array.shape[0] > high:
            raise BackendError(
                f"tensorrt: input '{name}' has batch {array.shape[0]}; this engine takes at most "
                f"{high}. Fix: backend_options={{'max_lesions': N}} to build a larger engine, or "
                f"edge-sdk build-engine --max-lesions N (with classifier_hflip, 2 crops a lesion)")
        if array.shape[0] < low:
            pad = np.zeros((low - array.shape[0], *array.shape[1:]), array.dtype)
            return np.concatenate([array, pad])
        return array

    def _ensure_thread_device(self) -> None:
        ident = threading.get_ident()
        if ident not in self._threads:
            from edge_sdk.tensorrt.cuda import set_device

            set_device(self.device)  # the current device is per thread
            self._threads.add(ident)

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._ensure_thread_device()
        stream, context = self._stream, self._context
        moved = False
        batch = None
        arrays = {}
        for spec in self._inputs:
            given = feed[spec.name]
            array = self._padded(spec.name, given)
            if array is not given:
                batch = given.shape[0]
            arrays[spec.name] = array
            if self._shapes.get(spec.name) != array.shape:
                if not context.set_input_shape(spec.name, array.shape):
                    raise BackendError(
                        f"tensorrt: input '{spec.name}' shape {array.shape} is outside the "
                        "engine's optimization profile. Fix: rebuild with a larger --max-lesions")
                self._shapes[spec.name] = array.shape
            moved |= self._bind(spec.name, array.nbytes)
            np.copyto(self._host_buffers[spec.name].view(array.shape, spec.dtype), array)
        out_shapes = {}
        for spec in self._outputs:
            dims = context.get_tensor_shape(spec.name)
            shape = tuple(int(dims[j]) for j in range(len(dims)))
            out_shapes[spec.name] = shape
            moved |= self._bind(spec.name, int(np.prod(shape)) * spec.dtype.itemsize)
        if moved:
            self._drop_graphs()  # graphs captured the old addresses
        timer = self._timer
        if timer:
            timer.record(0, stream)
        for spec in self._inputs:
            stream.copy_to_device(self._device_buffers[spec.name].ptr,
                                  self._host_buffers[spec.name].ptr, arrays[spec.name].nbytes)
        if timer:
            timer.record(1, stream)
        self._enqueue(tuple(arrays[spec.name].shape for spec in self._inputs))
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
        outputs = {spec.name: self._host_buffers[spec.name].view(out_shapes[spec.name], spec.dtype)
                   for spec in self._outputs}
        if batch is not None:  # drop the padding's outputs
            outputs = {k: v[:batch] if v.ndim and v.shape[0] > batch else v
                       for k, v in outputs.items()}
        return outputs

    def _execute(self) -> bool:
        return bool(self._context.execute_async_v3(self._stream.as_int))

    def _enqueue(self, key: tuple[tuple[int, ...], ...]) -> None:
        if not self.cuda_graph or self._graphs_failed:
            if not self._execute():
                raise BackendError("tensorrt: execute_async_v3 failed; see the TensorRT messages")
            return
        graph = self._graphs.get(key)
        if graph is not None:
            graph.launch(self._stream)
            return
        # The first enqueue at a new shape may allocate, which a capture cannot hold: run it
        # plainly (this call's results), then capture the next one for replay.
        if not self._execute():
            raise BackendError("tensorrt: execute_async_v3 failed; see the TensorRT messages")
        graph, why = self._stream.capture(self._execute)
        if graph is None:
            warnings.warn(f"tensorrt: CUDA graph capture failed ({why}); running without CUDA "
                          "graphs", stacklevel=4)
            self._graphs_failed = True
            return
        self._graphs[key] = graph

    def _drop_graphs(self) -> None:
        for graph in self._graphs.values():
            graph.destroy()
        self._graphs.clear()

    @classmethod
    def from_bundle(cls, bundle: Any, role: str, **options: Any) -> TensorRTBackend:
        """A backend for ``role`` from a compatible engine of the bundle, building one (and
        caching it beside the bundle) when there is none.

        Options beyond the constructor's: ``precision``, ``pipeline_params`` (the
        :class:`~edge_sdk.manifest.PipelineParams` in use, when they override the bundle's:
        ``max_lesions`` and ``classifier_hflip`` size the classifier's engine; ``Pipeline``
        passes them), ``max_lesions`` (more lesions than those params say) and
        ``build_options`` (``workspace_mb``, ``dla_core``, ``timing_cache``, ``max_batch``).
        """
        from edge_sdk.tensorrt.cache import engine_for

        unknown = sorted(set(options) - set(FROM_BUNDLE_OPTIONS))
        if unknown:
            raise ConfigError(f"tensorrt backend: unknown option(s) {unknown}; accepted: "
                              f"{', '.join(FROM_BUNDLE_OPTIONS)}")
        precision = options.pop("precision", None)
        max_lesions = options.pop("max_lesions", None)
        params = options.pop("pipeline_params", None)
        build_options = dict(options.pop("build_options", None) or {})
        path, meta = engine_for(bundle, role, precision=precision,
                                device=int(options.get("device", 0)),
                                max_lesions=None if max_lesions is None else int(max_lesions),
                                params=params, **build_options)
        return cls(path, meta=meta, bundle_hint=str(bundle.root), **options)
