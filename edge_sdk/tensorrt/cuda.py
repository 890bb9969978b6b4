"""CUDA memory, streams, events and graphs through NVIDIA's ``cuda-python`` bindings.

Why cuda-python and not pycuda: it is NVIDIA's own binding and what TensorRT 10's Python samples
use; it ships wheels for x86-64 and aarch64 (Jetson) on PyPI, so nothing is compiled on the
device, and it needs no CUDA context juggling (the runtime API uses the primary context that
TensorRT also uses). Imported on first use (the ``tensorrt`` extra, which pins
``cuda-python>=12.6,<13``: cuda-python 13 needs an NVIDIA driver ≥ 580, and JetPack 6 / older
x86 drivers answer its first call with ``cudaErrorInsufficientDriver``).

Every call returns cuda-python's ``(error, *values)`` tuple; :func:`check` unpacks it.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.errors import BackendError

CUDA_PYTHON_PIN = "cuda-python>=12.6,<13"


def cudart() -> Any:
    """The CUDA runtime module of cuda-python (``cuda.bindings.runtime``, or the older
    ``cuda.cudart`` of cuda-python < 12.6)."""
    try:
        from cuda.bindings import runtime  # cuda-python >= 12.6

        return runtime
    except ImportError:
        return import_optional("cuda.cudart", "tensorrt", "CUDA memory and streams")


def _error_text(rt: Any, error: Any) -> str:
    name = getattr(error, "name", str(error))
    try:
        _, text = rt.cudaGetErrorString(error)
        detail = text.decode() if isinstance(text, bytes) else str(text)
    except Exception:  # noqa: BLE001 - the text is a nicety; never hide the code behind it
        detail = "no description"
    hint = ""
    if name == "cudaErrorInsufficientDriver":
        _, driver = rt.cudaDriverGetVersion()
        _, runtime = rt.cudaRuntimeGetVersion()
        if not driver:
            hint = "; no NVIDIA driver is loaded (no GPU here, or the driver is not installed)"
        else:
            hint = (f"; the driver supports CUDA {_cuda_version(driver)}, these bindings need "
                    f"{_cuda_version(runtime)}. Fix: pip install '{CUDA_PYTHON_PIN}' (cuda-python "
                    "13 needs driver >= 580; JetPack 6 has CUDA 12.6), or update the driver")
    return f"{name} ({detail}){hint}"


def _cuda_version(number: Any) -> str:
    number = int(number or 0)
    return f"{number // 1000}.{number % 1000 // 10}"


def check(result: Any, what: str) -> Any:
    """Unpack a cuda-python ``(error, *values)`` tuple, raising :class:`BackendError` on error."""
    rt = cudart()
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != rt.cudaError_t.cudaSuccess:
        raise BackendError(f"CUDA: {what} failed: {_error_text(rt, error)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def device_properties(device: int = 0) -> dict[str, Any]:
    """Name, compute capability ("8.7") and memory of a CUDA device."""
    rt = cudart()
    count = check(rt.cudaGetDeviceCount(), "cudaGetDeviceCount")
    if device >= count:
        raise BackendError(f"CUDA device {device} asked for, but this host has {count} device(s). "
                           "Fix: pass device=N with N below that count")
    props = check(rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return {"name": name.rstrip("\x00"), "compute_capability": f"{props.major}.{props.minor}",
            "memory_bytes": int(props.totalGlobalMem)}


def cuda_problem(device: int = 0) -> str | None:
    """Why CUDA device ``device`` cannot be used, in the binding's own words; None when it can."""
    try:
        device_properties(device)
    except Exception as exc:  # noqa: BLE001 - every failure is an answer here: its text
        return f"{type(exc).__name__}: {exc}"
    return None


def set_device(device: int) -> None:
    """Make ``device`` current for the calling thread (``cudaSetDevice`` is per thread)."""
    check(cudart().cudaSetDevice(device), f"cudaSetDevice({device})")


class DeviceBuffer:
    """Device memory that grows (reallocates) only when a larger size is asked for.

    At least one byte is allocated, so that a zero-size tensor still gets a valid address
    (TensorRT refuses to enqueue with an I/O tensor that has none).
    """

    def __init__(self) -> None:
        self.ptr = 0
        self.nbytes = 0

    def ensure(self, nbytes: int) -> bool:
        """Make room for ``nbytes``; True when the address changed."""
        nbytes = max(1, nbytes)
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


def _free_host(rt: Any, ptr: int) -> None:
    error, *_ = rt.cudaFreeHost(ptr)
    if error != rt.cudaError_t.cudaSuccess:  # runs from a finalizer: say it, raise nothing
        warnings.warn(f"CUDA: cudaFreeHost failed: {_error_text(rt, error)}", stacklevel=1)


class PinnedAllocation:
    """One ``cudaMallocHost`` block, freed when the last NumPy array over it is released.

    Arrays made with ``np.asarray(allocation)`` keep it as their ``base`` (NVIDIA's samples do
    the same with ``ArrayWithOwner``), so an output handed to a caller stays valid after the
    backend grows its buffer or deactivates; only the memory itself is given back later.
    """

    def __init__(self, nbytes: int) -> None:
        rt = cudart()
        self.ptr = int(check(rt.cudaMallocHost(nbytes), f"cudaMallocHost({nbytes})"))
        self.nbytes = nbytes
        # freed through the binding that allocated it, whenever the last view goes
        self._finalizer = weakref.finalize(self, _free_host, rt, self.ptr)
        self._finalizer.atexit = False  # the process exit returns it; CUDA may be gone by then

    @property
    def __array_interface__(self) -> dict[str, Any]:
        return {"shape": (self.nbytes,), "typestr": "|u1", "data": (self.ptr, False), "version": 3}

    @property
    def freed(self) -> bool:
        return not self._finalizer.alive


class PinnedBuffer:
    """Page-locked host memory (fast, asynchronous copies) with NumPy views that own it."""

    def __init__(self) -> None:
        self._allocation: PinnedAllocation | None = None
        self._bytes: np.ndarray = np.zeros(0, np.uint8)

    @property
    def ptr(self) -> int:
        return self._allocation.ptr if self._allocation else 0

    @property
    def nbytes(self) -> int:
        return self._allocation.nbytes if self._allocation else 0

    def ensure(self, nbytes: int) -> bool:
        """Make room for ``nbytes``; True when a new block was allocated. The old block lives
        on while arrays returned by :meth:`view` still use it."""
        nbytes = max(1, nbytes)
        if nbytes <= self.nbytes:
            return False
        self.free()
        self._allocation = PinnedAllocation(nbytes)
        self._bytes = np.asarray(self._allocation)
        return True

    def view(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` over the start of the buffer (no copy)."""
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return self._bytes[:count].view(dtype).reshape(shape)

    def free(self) -> None:
        """Drop this buffer's hold on its block (freed once no view of it is left)."""
        self._allocation = None
        self._bytes = np.zeros(0, np.uint8)


class CudaGraph:
    """An instantiated CUDA graph (``cudaGraphExec_t``), destroyed by :meth:`destroy`."""

    def __init__(self, graph_exec: Any) -> None:
        self.handle = graph_exec

    def launch(self, stream: Stream) -> None:
        check(cudart().cudaGraphLaunch(self.handle, stream.handle), "cudaGraphLaunch")

    def destroy(self) -> None:
        if self.handle is not None:
            check(cudart().cudaGraphExecDestroy(self.handle), "cudaGraphExecDestroy")
            self.handle = None


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

    def capture(self, enqueue: Callable[[], bool]) -> tuple[CudaGraph | None, str]:
        """Capture the work ``enqueue`` puts on this stream into an instantiated graph.

        The capture is always ended (a stream left capturing breaks every later call), the
        captured graph is destroyed once instantiated (the executable keeps what it needs),
        and a failure is an answer, not an exception: ``(None, why)``.

        Returns:
            ``(graph, "")`` or ``(None, reason)``.
        """
        rt = cudart()
        check(rt.cudaStreamBeginCapture(
            self.handle, rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal),
            "cudaStreamBeginCapture")
        why = ""
        try:
            if not enqueue():
                why = "the enqueue returned False during capture"
        except Exception as exc:  # noqa: BLE001 - the capture is ended below, then reported
            why = f"the enqueue raised {type(exc).__name__}: {exc}"
        finally:
            error, graph = rt.cudaStreamEndCapture(self.handle)
        if error != rt.cudaError_t.cudaSuccess:
            rt.cudaGetLastError()  # capture errors are not sticky; clear the last-error slot
            return None, why or f"cudaStreamEndCapture: {_error_text(rt, error)}"
        try:
            if why:
                return None, why
            error, graph_exec = rt.cudaGraphInstantiate(graph, 0)
            if error != rt.cudaError_t.cudaSuccess:
                return None, f"cudaGraphInstantiate: {_error_text(rt, error)}"
            return CudaGraph(graph_exec), ""
        finally:
            check(rt.cudaGraphDestroy(graph), "cudaGraphDestroy")

    def destroy(self) -> None:
        if self.handle is not None:
            check(cudart().cudaStreamDestroy(self.handle), "cudaStreamDestroy")
            self.handle = None


class EventTimer:
    """CUDA events recorded between phases on a stream; elapsed times in ms after a sync."""

    def __init__(self, names: tuple[str, ...]) -> None:
        rt = cudart()
        self.names = names
        self._events: list[Any] = []
        try:
            for _ in range(len(names) + 1):
                self._events.append(check(rt.cudaEventCreate(), "cudaEventCreate"))
        except BaseException:
            self.destroy()
            raise

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
