"""CUDA memory, streams, events and graphs through NVIDIA's ``cuda-python`` bindings.

Why cuda-python and not pycuda: it is NVIDIA's own binding and what TensorRT 10's Python samples
use; it ships wheels for x86-64 and aarch64 (Jetson) on PyPI, so nothing is compiled on the
device, and it needs no CUDA context juggling (the runtime API uses the primary context that
TensorRT also uses). Imported on first use (the ``tensorrt`` extra).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.errors import BackendError


def cudart() -> Any:
    """The CUDA runtime module of cuda-python (``cuda.bindings.runtime``, or the older
    ``cuda.cudart`` of cuda-python < 12.6)."""
    try:
        from cuda.bindings import runtime  # cuda-python >= 12.6

        return runtime
    except ImportError:
        return import_optional("cuda.cudart", "tensorrt", "CUDA memory and streams")


def check(result: Any, what: str) -> Any:
    """Unpack a cuda-python ``(error, *values)`` tuple, raising :class:`BackendError` on error."""
    rt = cudart()
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != rt.cudaError_t.cudaSuccess:
        _, text = rt.cudaGetErrorString(error)
        detail = text.decode() if isinstance(text, bytes) else str(text)
        raise BackendError(f"CUDA: {what} failed: {getattr(error, 'name', error)} ({detail})")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def device_properties(device: int = 0) -> dict[str, Any]:
    """Name, compute capability ("8.7") and memory of a CUDA device."""
    rt = cudart()
    count = check(rt.cudaGetDeviceCount(), "cudaGetDeviceCount")
    if device >= count:
        raise BackendError(f"CUDA device {device} asked for, but this host has {count} device(s)")
    props = check(rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return {"name": name.rstrip("\x00"), "compute_capability": f"{props.major}.{props.minor}",
            "memory_bytes": int(props.totalGlobalMem)}


class DeviceBuffer:
    """Device memory that grows (reallocates) only when a larger size is asked for."""

    def __init__(self) -> None:
        self.ptr = 0
        self.nbytes = 0

    def ensure(self, nbytes: int) -> bool:
        """Make room for ``nbytes``; True when the address changed."""
        if nbytes <= self.nbytes:
            return False
        self.free()
        self.ptr = int(check(cudart().cudaMalloc(nbytes), f"cudaMalloc({nbytes})"))
        self.nbytes = nbytes
        return True

    def free(self) -> None:
        if self.ptr:
            check(cudart().cudaFree(self.ptr), "cudaFree")
        self.ptr, self.nbytes = 0, 0


class PinnedBuffer:
    """Page-locked host memory (fast, asynchronous copies) with a NumPy view."""

    def __init__(self) -> None:
        self.ptr = 0
        self.nbytes = 0
        self._bytes: np.ndarray = np.zeros(0, np.uint8)

    def ensure(self, nbytes: int) -> bool:
        if nbytes <= self.nbytes:
            return False
        self.free()
        self.ptr = int(check(cudart().cudaMallocHost(nbytes), f"cudaMallocHost({nbytes})"))
        self.nbytes = nbytes
        self._bytes = np.ctypeslib.as_array((ctypes.c_ubyte * nbytes).from_address(self.ptr))
        return True

    def view(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` over the start of the buffer (no copy)."""
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return self._bytes[:count].view(dtype).reshape(shape)

    def free(self) -> None:
        if self.ptr:
            check(cudart().cudaFreeHost(self.ptr), "cudaFreeHost")
        self.ptr, self.nbytes = 0, 0
        self._bytes = np.zeros(0, np.uint8)


class Stream:
    """One CUDA stream with helpers for copies, events and graph capture."""

    def __init__(self) -> None:
        self.handle = check(cudart().cudaStreamCreate(), "cudaStreamCreate")

    @property
    def as_int(self) -> int:
        return int(self.handle)

    def copy_to_device(self, device_ptr: int, host_ptr: int, nbytes: int) -> None:
        rt = cudart()
        check(rt.cudaMemcpyAsync(device_ptr, host_ptr, nbytes,
                                 rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.handle),
              "cudaMemcpyAsync host->device")

    def copy_to_host(self, host_ptr: int, device_ptr: int, nbytes: int) -> None:
        rt = cudart()
        check(rt.cudaMemcpyAsync(host_ptr, device_ptr, nbytes,
                                 rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.handle),
              "cudaMemcpyAsync device->host")

    def synchronize(self) -> None:
        check(cudart().cudaStreamSynchronize(self.handle), "cudaStreamSynchronize")

    def begin_capture(self) -> None:
        rt = cudart()
        check(rt.cudaStreamBeginCapture(
            self.handle, rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal),
            "cudaStreamBeginCapture")

    def end_capture(self) -> Any:
        """Finish a capture; returns an instantiated graph to launch with :meth:`launch`."""
        rt = cudart()
        graph = check(rt.cudaStreamEndCapture(self.handle), "cudaStreamEndCapture")
        return check(rt.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")

    def launch(self, graph_exec: Any) -> None:
        check(cudart().cudaGraphLaunch(graph_exec, self.handle), "cudaGraphLaunch")

    def destroy(self) -> None:
        if self.handle is not None:
            check(cudart().cudaStreamDestroy(self.handle), "cudaStreamDestroy")
            self.handle = None


class EventTimer:
    """CUDA events recorded between phases on a stream; elapsed times in ms after a sync."""

    def __init__(self, names: tuple[str, ...]) -> None:
        rt = cudart()
        self.names = names
        self._events = [check(rt.cudaEventCreate(), "cudaEventCreate") for _ in range(len(names) + 1)]

    def record(self, index: int, stream: Stream) -> None:
        check(cudart().cudaEventRecord(self._events[index], stream.handle), "cudaEventRecord")

    def elapsed_ms(self) -> dict[str, float]:
        rt = cudart()
        return {
            name: float(check(rt.cudaEventElapsedTime(self._events[i], self._events[i + 1]),
                              "cudaEventElapsedTime"))
            for i, name in enumerate(self.names)
        }

    def destroy(self) -> None:
        for event in self._events:
            check(cudart().cudaEventDestroy(event), "cudaEventDestroy")
        self._events = []
