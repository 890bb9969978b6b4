"""Fakes of the TensorRT and cuda-python surface the SDK calls, for machines without either.

They follow the real signatures and return conventions (read from TensorRT's ``NvInfer.h`` and
``python/src/infer/pyCore.cpp`` for 10.3 / 10.13 / 11.1, and from ``cuda.bindings.runtime``):

- cuda-python returns ``(cudaError_t, *values)`` tuples, never raises for a CUDA error; error
  codes have the real values (``tests/tensorrt/test_cuda.py`` compares them with the installed
  bindings). "Device" memory is host memory here, so copies are ``memmove``; freed host blocks
  are poisoned (0xFF, a NaN in float32) and kept, so a use after free reads garbage instead of
  crashing the test process.
- Work enqueued on a capturing stream is recorded, not run, and replayed by ``cudaGraphLaunch``.
- TensorRT: ``set_timing_cache`` returns False on a cache from another device,
  ``create_timing_cache`` None on a damaged one, ``get_timing_cache`` None when none is set;
  ``build_serialized_network`` returns None when the progress monitor cancels;
  ``set_input_shape`` returns False outside the profile; ``execute_async_v3`` returns False when
  an I/O tensor has no address. TensorRT 11 has no FP16/INT8 builder flags and
  ``NetworkDefinitionCreationFlag.STRONGLY_TYPED == 0`` (ignored); 10.x has
  ``STRONGLY_TYPED == 1``; 9.x has no progress monitor.
- The "plan" is a JSON header plus the ONNX bytes; the engine runs the ONNX with ONNX Runtime.
"""

from __future__ import annotations

import ctypes
import enum
import itertools
import json
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PLAN_MAGIC = b"FAKEPLAN\n"


# ---- cuda-python --------------------------------------------------------------------------
class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100
    cudaErrorInvalidDevice = 101
    cudaErrorStreamCaptureUnsupported = 900
    cudaErrorStreamCaptureInvalidated = 901


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3


class cudaStreamCaptureMode(enum.IntEnum):
    cudaStreamCaptureModeGlobal = 0
    cudaStreamCaptureModeThreadLocal = 1
    cudaStreamCaptureModeRelaxed = 2


class cudaMemoryType(enum.IntEnum):
    cudaMemoryTypeUnregistered = 0
    cudaMemoryTypeHost = 1
    cudaMemoryTypeDevice = 2
    cudaMemoryTypeManaged = 3


OK = cudaError_t.cudaSuccess


class Handle:
    """An opaque handle (``cudaStream_t``, ``cudaGraph_t`` ...) that converts to int."""

    _ids = itertools.count(0x1000)

    def __init__(self, kind: str) -> None:
        self.kind, self.value = kind, next(self._ids)

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"<{self.kind} {self.value:#x}>"


class FakeCudart:
    """``cuda.bindings.runtime`` on host memory, counting what was created and destroyed."""

    cudaError_t = cudaError_t
    cudaMemcpyKind = cudaMemcpyKind
    cudaStreamCaptureMode = cudaStreamCaptureMode
    cudaMemoryType = cudaMemoryType

    def __init__(self, gpu: str = "NVIDIA Fake GPU", cc: tuple[int, int] = (8, 7), devices: int = 1,
                 failure: cudaError_t | None = None) -> None:
        self.gpu, self.cc, self.devices, self.failure = gpu, cc, devices, failure
        self.memory: dict[int, Any] = {}  # ptr -> ctypes buffer (device and pinned alike)
        self.pinned: set[int] = set()
        self.freed_host: list[int] = []
        self.freed_device: list[int] = []
        self.graveyard: list[Any] = []
        self.capturing: dict[int, list[Callable[[], None]]] = {}
        self.invalidate_next_capture = False
        self.invalidated: set[int] = set()
        self.fail_event_create = False
        self.graphs: dict[int, list[Callable[[], None]]] = {}
        self.graphs_destroyed = 0
        self.execs: dict[int, list[Callable[[], None]]] = {}
        self.execs_destroyed = 0
        self.streams: set[int] = set()
        self.events: set[int] = set()
        self._local = threading.local()
        self.set_device_calls: list[tuple[int, int]] = []  # (thread id, device)

    # device and errors
    def _fail(self) -> tuple[Any, None] | None:
        return (self.failure, None) if self.failure is not None else None

    def cudaGetErrorString(self, error: cudaError_t) -> tuple[cudaError_t, bytes]:
        texts = {35: b"CUDA driver version is insufficient for CUDA runtime version",
                 100: b"no CUDA-capable device is detected"}
        return OK, texts.get(int(error), b"fake error")

    def cudaDriverGetVersion(self) -> tuple[cudaError_t, int]:
        return OK, 12060

    def cudaRuntimeGetVersion(self) -> tuple[cudaError_t, int]:
        return OK, 13000

    def cudaGetLastError(self) -> tuple[cudaError_t]:
        return (OK,)

    def cudaGetDeviceCount(self) -> tuple[cudaError_t, int | None]:
        return self._fail() or (OK, self.devices)

    def cudaGetDeviceProperties(self, device: int) -> tuple[cudaError_t, Any]:
        props = types.SimpleNamespace(name=self.gpu.encode() + b"\x00" * 4, major=self.cc[0],
                                      minor=self.cc[1], totalGlobalMem=8 << 30)
        return self._fail() or (OK, props)

    def cudaSetDevice(self, device: int) -> tuple[cudaError_t]:
        if device >= self.devices:
            return (cudaError_t.cudaErrorInvalidDevice,)
        self._local.device = device
        self.set_device_calls.append((threading.get_ident(), device))
        return (OK,)

    def cudaGetDevice(self) -> tuple[cudaError_t, int]:
        return OK, getattr(self._local, "device", 0)

    # memory
    def _alloc(self, size: int) -> int:
        buffer = (ctypes.c_ubyte * size)()
        ptr = ctypes.addressof(buffer)
        self.memory[ptr] = buffer
        return ptr

    def cudaMalloc(self, size: int) -> tuple[cudaError_t, int]:
        return OK, self._alloc(size)

    def cudaFree(self, ptr: int) -> tuple[cudaError_t]:
        self.graveyard.append(self.memory.pop(ptr))
        self.freed_device.append(ptr)
        return (OK,)

    def cudaMallocHost(self, size: int) -> tuple[cudaError_t, int]:
        ptr = self._alloc(size)
        self.pinned.add(ptr)
        return OK, ptr

    def cudaFreeHost(self, ptr: int) -> tuple[cudaError_t]:
        if ptr not in self.pinned:
            return (cudaError_t.cudaErrorInvalidValue,)
        buffer = self.memory.pop(ptr)
        ctypes.memset(ptr, 0xFF, len(buffer))  # poison: a use after free reads NaN
        self.graveyard.append(buffer)
        self.pinned.discard(ptr)
        self.freed_host.append(ptr)
        return (OK,)

    def cudaMemsetAsync(self, ptr: int, value: int, count: int, stream: Handle) -> tuple[cudaError_t]:
        self.enqueue(stream, lambda: ctypes.memset(ptr, value, count))
        return (OK,)

    def cudaMemGetInfo(self) -> tuple[cudaError_t, int, int]:
        total = 8 << 30
        used = sum(len(b) for p, b in self.memory.items() if p not in self.pinned)
        return OK, total - used, total

    def cudaPointerGetAttributes(self, ptr: int) -> tuple[cudaError_t, Any]:
        kind = (cudaMemoryType.cudaMemoryTypeHost if ptr in self.pinned else
                cudaMemoryType.cudaMemoryTypeDevice if ptr in self.memory else
                cudaMemoryType.cudaMemoryTypeUnregistered)
        return OK, types.SimpleNamespace(type=kind)

    def cudaMemcpyAsync(self, dst: int, src: int, count: int, kind: cudaMemcpyKind,
                        stream: Handle) -> tuple[cudaError_t]:
        self.enqueue(stream, lambda: ctypes.memmove(dst, src, count))
        return (OK,)

    # streams, capture, graphs
    def enqueue(self, stream: Any, work: Callable[[], Any]) -> None:
        """Run ``work`` now, or record it when ``stream`` is capturing."""
        captured = self.capturing.get(int(stream))
        if captured is not None:
            captured.append(work)
        else:
            work()

    def cudaStreamCreate(self) -> tuple[cudaError_t, Handle]:
        handle = Handle("cudaStream_t")
        self.streams.add(int(handle))
        return OK, handle

    def cudaStreamDestroy(self, stream: Handle) -> tuple[cudaError_t]:
        self.streams.discard(int(stream))
        return (OK,)

    def cudaStreamSynchronize(self, stream: Handle) -> tuple[cudaError_t]:
        if int(stream) in self.capturing:  # an illegal call in capture invalidates the capture
            self.invalidated.add(int(stream))
            return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
        return (OK,)

    def cudaStreamBeginCapture(self, stream: Handle, mode: cudaStreamCaptureMode) -> tuple[cudaError_t]:
        self.capturing[int(stream)] = []
        return (OK,)

    def cudaStreamEndCapture(self, stream: Handle) -> tuple[cudaError_t, Handle | None]:
        work = self.capturing.pop(int(stream))
        if self.invalidate_next_capture or int(stream) in self.invalidated:
            self.invalidate_next_capture = False
            self.invalidated.discard(int(stream))
            return cudaError_t.cudaErrorStreamCaptureInvalidated, None
        graph = Handle("cudaGraph_t")
        self.graphs[int(graph)] = work
        return OK, graph

    def cudaGraphInstantiate(self, graph: Handle, flags: int) -> tuple[cudaError_t, Handle]:
        graph_exec = Handle("cudaGraphExec_t")
        self.execs[int(graph_exec)] = list(self.graphs[int(graph)])
        return OK, graph_exec

    def cudaGraphLaunch(self, graph_exec: Handle, stream: Handle) -> tuple[cudaError_t]:
        for work in self.execs[int(graph_exec)]:
            work()
        return (OK,)

    def cudaGraphDestroy(self, graph: Handle) -> tuple[cudaError_t]:
        del self.graphs[int(graph)]
        self.graphs_destroyed += 1
        return (OK,)

    def cudaGraphExecDestroy(self, graph_exec: Handle) -> tuple[cudaError_t]:
        del self.execs[int(graph_exec)]
        self.execs_destroyed += 1
        return (OK,)

    # events
    def cudaEventCreate(self) -> tuple[cudaError_t, Handle | None]:
        if self.fail_event_create:
            return cudaError_t.cudaErrorMemoryAllocation, None
        event = Handle("cudaEvent_t")
        self.events.add(int(event))
        return OK, event

    def cudaEventRecord(self, event: Handle, stream: Handle) -> tuple[cudaError_t]:
        return (OK,)

    def cudaEventElapsedTime(self, start: Handle, end: Handle) -> tuple[cudaError_t, float]:
        return OK, 0.01

    def cudaEventDestroy(self, event: Handle) -> tuple[cudaError_t]:
        self.events.discard(int(event))
        return (OK,)

    def host_array(self, ptr: int, nbytes: int, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        raw = np.ctypeslib.as_array((ctypes.c_ubyte * nbytes).from_address(ptr))
        return raw.view(dtype).reshape(shape)


# ---- TensorRT -----------------------------------------------------------------------------
def fake_tensorrt(cuda: FakeCudart, version: str = "10.3.0", dla_cores: int = 0) -> types.ModuleType:
    """A ``tensorrt`` module of ``version`` (9.x, 10.x or 11.x differences) over ``cuda``."""
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version  # type: ignore[attr-defined]
    if major >= 11:  # NvInfer.h 11.1: no kFP16/kINT8; kSTRONGLY_TYPED = 0, deprecated and ignored
        builder_flags = {"DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 4, "TF32": 6}
        network_flags = {"STRONGLY_TYPED": 0, "PREFER_JIT_PYTHON_PLUGINS": 1,
                         "PREFER_AOT_PYTHON_PLUGINS": 2}
    else:  # NvInfer.h 10.3
        builder_flags = {"FP16": 0, "INT8": 1, "DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 4, "TF32": 6}
        network_flags = {"EXPLICIT_BATCH": 0} | ({"STRONGLY_TYPED": 1} if major >= 10 else {})
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", builder_flags)  # type: ignore[attr-defined]
    trt.NetworkDefinitionCreationFlag = enum.IntEnum(  # type: ignore[attr-defined]
        "NetworkDefinitionCreationFlag", network_flags)
    trt.DeviceType = enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1})  # type: ignore[attr-defined]
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0})  # type: ignore[attr-defined]
    trt.TensorIOMode = enum.IntEnum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})  # type: ignore[attr-defined]
    trt.DataType = enum.IntEnum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3})  # type: ignore[attr-defined]
    trt.nptype = lambda dt: {0: np.float32, 1: np.float16, 2: np.int8, 3: np.int32}[int(dt)]  # type: ignore[attr-defined]
    trt.Dims = tuple  # type: ignore[attr-defined]
    trt.cuda = cuda  # type: ignore[attr-defined]
    trt.dla_cores = dla_cores  # type: ignore[attr-defined]
    trt.loggers = []  # type: ignore[attr-defined]

    class Logger:
        VERBOSE, INFO, WARNING, ERROR = 4, 3, 2, 1

        def __init__(self, min_severity: int = 2) -> None:
            trt.loggers.append(self)  # type: ignore[attr-defined]

    trt.Logger = Logger  # type: ignore[attr-defined]
    for name, cls in _classes().items():
        setattr(trt, name, cls)
    if major < 10:
        del trt.IProgressMonitor  # type: ignore[attr-defined]
    _BOUND.trt = trt
    return trt


class _Bound:
    trt: Any = None


_BOUND = _Bound()  # the fake module the classes below belong to (one per test, all threads)


def _trt() -> Any:
    return _BOUND.trt


class FakeTensor:
    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        self.name, self.shape = name, shape


class FakeNetwork:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.inputs: list[FakeTensor] = []
        self.onnx = b""

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, index: int) -> FakeTensor:
        return self.inputs[index]


class FakeParser:
    def __init__(self, network: FakeNetwork, logger: Any) -> None:
        self.network, self.errors = network, []

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, index: int) -> str:
        return self.errors[index]

    def parse_from_file(self, path: str) -> bool:
        import onnx

        try:
            model = onnx.load(path)
        except Exception as exc:  # noqa: BLE001 - the real parser reports, never raises
            self.errors.append(str(exc))
            return False
        for value in model.graph.input:
            dims = value.type.tensor_type.shape.dim
            shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
            self.network.inputs.append(FakeTensor(value.name, shape))
        self.network.onnx = Path(path).read_bytes()
        return True


class FakeProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, list[tuple[int, ...]]] = {}

    def set_shape(self, name: str, minimum: Any, opt: Any, maximum: Any) -> None:
        self.shapes[name] = [tuple(minimum), tuple(opt), tuple(maximum)]


class FakeTimingCache:
    def __init__(self, device: str) -> None:
        self.device = device

    def serialize(self) -> bytes:
        return b"TCACHE:" + self.device.encode()


class FakeConfig:
    def __init__(self) -> None:
        self.flags: set[str] = set()
        self.profiles: list[FakeProfile] = []
        self.default_device_type = _trt().DeviceType.GPU
        self.DLA_core = -1
        self.progress_monitor: Any = None
        self._cache: FakeTimingCache | None = None

    def set_flag(self, flag: Any) -> None:
        self.flags.add(flag.name)

    def set_memory_pool_limit(self, pool: Any, size: int) -> None:
        pass

    def add_optimization_profile(self, profile: FakeProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, data: bytes) -> FakeTimingCache | None:
        if not data:
            return FakeTimingCache(_trt().cuda.gpu)
        if not bytes(data).startswith(b"TCACHE:"):
            return None  # createTimingCache returns nullptr for a damaged blob
        return FakeTimingCache(bytes(data)[7:].decode())

    def set_timing_cache(self, cache: FakeTimingCache, ignore_mismatch: bool) -> bool:
        if cache.device != _trt().cuda.gpu and not ignore_mismatch:
            return False
        self._cache = cache
        return True

    def get_timing_cache(self) -> FakeTimingCache | None:
        return self._cache


class FakeBuilder:
    def __init__(self, logger: Any) -> None:
        self.logger = logger

    @property
    def num_DLA_cores(self) -> int:
        return int(_trt().dla_cores)

    def create_network(self, flags: int = 0) -> FakeNetwork:
        return FakeNetwork(flags)

    def create_builder_config(self) -> FakeConfig:
        return FakeConfig()

    def create_optimization_profile(self) -> FakeProfile:
        return FakeProfile()

    def build_serialized_network(self, network: FakeNetwork, config: FakeConfig) -> bytes | None:
        monitor = config.progress_monitor
        if monitor is not None:
            _trampoline(monitor.phase_start, None, "Building engine", None, 3)
            for step in range(3):
                if not _trampoline(monitor.step_complete, False, "Building engine", step):
                    return None  # the build was cancelled
            _trampoline(monitor.phase_finish, None, "Building engine")
        dynamic = [t.name for t in network.inputs if t.shape and t.shape[0] < 0]
        profiles = config.profiles[0].shapes if config.profiles else {}
        if set(dynamic) != set(profiles):
            return None  # "Network has dynamic or shape inputs, but no optimization profile"
        dla = config.default_device_type == _trt().DeviceType.DLA
        header = {"version": _trt().__version__, "profiles": profiles, "flags": sorted(config.flags),
                  "network_flags": network.flags, "dla_core": config.DLA_core if dla else None}
        return PLAN_MAGIC + json.dumps(header).encode() + b"\n" + network.onnx


def _trampoline(method: Callable[..., Any], on_error: Any, *args: Any) -> Any:
    """pyCore.cpp's PyProgressMonitor: any Python exception (KeyboardInterrupt included, as
    pybind11's error_already_set) is printed and swallowed; step_complete then answers False."""
    try:
        return method(*args)
    except BaseException as exc:  # noqa: BLE001 - what the C++ trampoline does
        print(f"[ERROR] Exception caught in {method.__name__}(): {exc!r}", file=sys.stderr)
        return on_error


class FakeRuntime:
    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.DLA_core = -1
        self.fail_context = False

    def deserialize_cuda_engine(self, data: bytes) -> FakeEngine | None:
        if not data.startswith(PLAN_MAGIC):
            return None
        header, onnx_bytes = data[len(PLAN_MAGIC):].split(b"\n", 1)
        meta = json.loads(header)
        if meta["version"] != _trt().__version__:
            return None
        if meta["dla_core"] is not None and meta["dla_core"] != self.DLA_core:
            return None  # a DLA plan needs runtime.DLA_core set to its core
        return FakeEngine(meta, onnx_bytes, self)


class FakeEngine:
    def __init__(self, meta: dict[str, Any], onnx_bytes: bytes, runtime: FakeRuntime) -> None:
        import onnxruntime as ort

        self.meta, self.runtime = meta, runtime
        self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        self.io = [(i.name, i.shape, 1) for i in self.session.get_inputs()]
        self.io += [(o.name, o.shape, 2) for o in self.session.get_outputs()]

    @property
    def num_io_tensors(self) -> int:
        return len(self.io)

    def get_tensor_name(self, index: int) -> str:
        return self.io[index][0]

    def _entry(self, name: str) -> tuple[str, list[Any], int]:
        return next(e for e in self.io if e[0] == name)

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return tuple(d if isinstance(d, int) else -1 for d in self._entry(name)[1])

    def get_tensor_dtype(self, name: str) -> Any:
        return _trt().DataType.FLOAT

    def get_tensor_mode(self, name: str) -> Any:
        return _trt().TensorIOMode(self._entry(name)[2])

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
        return [tuple(s) for s in self.meta["profiles"][name]]

    def create_execution_context(self) -> FakeContext | None:
        return None if self.runtime.fail_context else FakeContext(self)


class FakeContext:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}
        self.fail_during_capture = False

    def set_input_shape(self, name: str, shape: Any) -> bool:
        shape = tuple(shape)
        profile = self.engine.meta["profiles"].get(name)
        if profile is not None:
            low, _, high = profile
            if not all(lo <= s <= hi for lo, s, hi in zip(low, shape, high)):
                return False  # "... is out of the range of the optimization profile"
        self.shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        if name in self.shapes:
            return self.shapes[name]
        batch = next(iter(self.shapes.values()), (-1,))[0]
        return tuple(d if isinstance(d, int) else batch for d in self.engine._entry(name)[1])

    def set_tensor_address(self, name: str, memory: int) -> bool:
        self.addresses[name] = memory
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        cuda = _trt().cuda
        if any(name not in self.addresses for name, _, _ in self.engine.io):
            return False  # "... Address is not set for input/output tensor"
        if stream_handle in cuda.capturing and self.fail_during_capture:
            return False
        shapes = {name: self.get_tensor_shape(name) for name, _, _ in self.engine.io}
        addresses = dict(self.addresses)

        def run() -> None:
            feed = {name: cuda.host_array(addresses[name], 4 * int(np.prod(shapes[name])),
                                          np.float32, shapes[name]).copy()
                    for name, _, mode in self.engine.io if mode == 1}
            names = [name for name, _, mode in self.engine.io if mode == 2]
            for name, value in zip(names, self.engine.session.run(names, feed)):
                out = cuda.host_array(addresses[name], value.nbytes, np.float32, value.shape)
                out[...] = value

        cuda.enqueue(stream_handle, run)
        return True


def _classes() -> dict[str, type]:
    class IProgressMonitor:
        def __init__(self) -> None:
            pass

    return {"Builder": FakeBuilder, "Runtime": FakeRuntime, "OnnxParser": FakeParser,
            "IProgressMonitor": IProgressMonitor}


def install(monkeypatch: Any, version: str = "10.3.0", dla_cores: int = 0,
            **cuda_options: Any) -> tuple[types.ModuleType, FakeCudart]:
    """Make ``import tensorrt`` and the SDK's cuda-python calls use the fakes for one test."""
    import edge_sdk.tensorrt.cuda

    cuda = FakeCudart(**cuda_options)
    trt = fake_tensorrt(cuda, version, dla_cores)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(edge_sdk.tensorrt.cuda, "cudart", lambda: cuda)
    return trt, cuda
