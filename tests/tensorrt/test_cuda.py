"""The cuda-python layer: pinned-memory ownership, graph capture and error text, on the
cuda-python fake (``benchmarks/gpu_check.sh`` runs the same checks on a real GPU)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from edge_sdk import BackendError
from edge_sdk.backends.auto import choose_backend
from edge_sdk.tensorrt import cuda
from tests.tensorrt import fakes


def test_pinned_views_own_their_memory(fake) -> None:
    """Finding 1: a view handed out stays valid after the buffer grows or is freed; the block
    is returned to CUDA once, when the last view goes."""
    _, rt = fake
    buffer = cuda.PinnedBuffer()
    buffer.ensure(16)
    first_ptr = buffer.ptr
    view = buffer.view((4,), np.dtype(np.float32))
    view[:] = [1, 2, 3, 4]
    buffer.ensure(64)  # growth: a new block; the old one lives on under the view
    assert buffer.ptr != first_ptr and rt.freed_host == []
    second_ptr = buffer.ptr
    buffer.free()
    assert rt.freed_host == [second_ptr]  # no view of the second block was handed out
    np.testing.assert_array_equal(view, [1, 2, 3, 4])
    sliced = view[1:]
    del view
    gc.collect()
    assert first_ptr not in rt.freed_host and sliced[0] == 2  # a view of a view holds it too
    del sliced
    gc.collect()
    assert first_ptr in rt.freed_host and len(rt.freed_host) == 2


def test_zero_size_device_buffer_gets_an_address(fake) -> None:
    """Finding 15: TensorRT needs an address for every I/O tensor, empty ones included."""
    buffer = cuda.DeviceBuffer()
    assert buffer.ensure(0) and buffer.ptr != 0


def test_capture_destroys_the_graph_and_survives_failures(fake) -> None:
    """Finding 5: the graph is destroyed once instantiated; a failed capture is ended and
    reported, not raised."""
    _, rt = fake
    stream = cuda.Stream()
    ran = []
    graph, why = stream.capture(lambda: rt.enqueue(stream.handle, lambda: ran.append(1)) or True)
    assert graph is not None and why == "" and ran == []
    assert rt.graphs == {} and rt.graphs_destroyed == 1
    graph.launch(stream)
    assert ran == [1]
    graph.destroy()
    assert rt.execs == {}
    failed, why = stream.capture(lambda: False)
    assert failed is None and "returned False" in why and rt.capturing == {}
    rt.invalidate_next_capture = True
    failed, why = stream.capture(lambda: True)
    assert failed is None and "cudaErrorStreamCaptureInvalidated" in why
    stream.destroy()


def test_fake_error_codes_match_the_real_bindings() -> None:
    runtime = pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed")
    for enum in (fakes.cudaError_t, fakes.cudaMemcpyKind, fakes.cudaStreamCaptureMode,
                 fakes.cudaMemoryType):
        real = getattr(runtime, enum.__name__)
        for member in enum:
            assert int(getattr(real, member.name)) == int(member), member
    for name in dir(fakes.FakeCudart):
        if name.startswith("cuda") and callable(getattr(fakes.FakeCudart, name)):
            assert hasattr(runtime, name), f"cuda.bindings.runtime has no {name}"


def test_insufficient_driver_names_the_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 2: cuda-python 13 on a driver older than 580 fails its first call; say why."""
    fakes.install(monkeypatch, failure=fakes.cudaError_t.cudaErrorInsufficientDriver)
    with pytest.raises(BackendError, match=r"cuda-python>=12\.6,<13") as info:
        cuda.device_properties(0)
    assert "driver supports CUDA 12.6, these bindings need 13.0" in str(info.value)
    problem = cuda.cuda_problem(0)
    assert problem is not None and "cudaErrorInsufficientDriver" in problem
    choice = choose_backend("auto", ["CPUExecutionProvider"])  # TensorRT (fake) is importable
    assert choice.kind == "onnxruntime"
    assert "cudaErrorInsufficientDriver" in choice.reason and "<13" in choice.reason


def test_info_shows_the_cuda_python_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_sdk.sysinfo import cuda_python_status

    fakes.install(monkeypatch, failure=fakes.cudaError_t.cudaErrorInsufficientDriver)
    assert "cudaErrorInsufficientDriver" in cuda_python_status()
    fakes.install(monkeypatch, gpu="Orin (nvgpu)")
    assert cuda_python_status() == "Orin (nvgpu) (compute capability 8.7)"
