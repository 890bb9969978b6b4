"""Build one TensorRT engine from one ONNX model: path in, plan path out.

Engines are written as plain serialized plans (no header: trtexec and DeepStream load them as
they are). Plans and timing caches are written atomically (a temporary file renamed into
place), so an interrupted build never leaves a file that looks finished.
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from edge_sdk.errors import BackendError, ConfigError
from edge_sdk.tensorrt.compat import (
    build_plan,
    logger,
    network_flags,
    require_tensorrt,
    supports_progress_monitor,
    tensorrt_version,
)
from edge_sdk.tensorrt.cuda import device_properties, set_device

if TYPE_CHECKING:  # checked against tensorrt-stubs; imported for real only inside build_engine
    import tensorrt


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class BatchProfile:
    """The optimization profile of dynamic-batch inputs: batch min / opt / max."""

    minimum: int
    optimum: int
    maximum: int

    @classmethod
    def for_engine(cls, max_batch: int, opt_batch: int = 1, static: bool = False) -> BatchProfile:
        """1 … ``max_batch`` tuned for ``opt_batch`` (the typical count, not the largest);
        ``static`` (DLA) pins all three to ``max_batch``."""
        if max_batch < 1:
            raise ConfigError(f"max_batch {max_batch}; expected >= 1")
        if static:
            return cls(max_batch, max_batch, max_batch)
        return cls(1, min(max(1, opt_batch), max_batch), max_batch)


def dynamic_inputs(network: tensorrt.INetworkDefinition) -> list[tuple[str, list[int]]]:
    """Names and shapes of the inputs whose batch (first) dimension is dynamic.

    Raises:
        ConfigError: another dimension is dynamic (one profile over the batch is all the SDK
            builds; export the model with fixed image sizes).
    """
    found = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = tensor.shape
        shape = [int(dims[j]) for j in range(len(dims))]
        if any(d < 0 for d in shape[1:]):
            raise ConfigError(
                f"input '{tensor.name}' has shape {shape}: only the batch (first) dimension may "
                "be dynamic. Fix: export the ONNX with a fixed channel count and image size")
        if shape and shape[0] < 0:
            found.append((tensor.name, shape))
    return found


class _Spinner:
    """Elapsed-time feedback for TensorRT builds without a progress monitor (< 10.0)."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label, self.stream = label, stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start, frames, i = time.monotonic(), "|/-\\", 0
        while not self._stop.wait(0.5):
            self.stream.write(f"\r{self.label} {frames[i % 4]} {time.monotonic() - start:5.0f} s")
            self.stream.flush()
            i += 1

    def __enter__(self) -> _Spinner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.stream.write("\n")


def progress_monitor(trt: Any, label: str, stream: TextIO | None) -> Any:
    """A ``trt.IProgressMonitor`` that prints each build phase and lets Ctrl-C cancel the build.

    TensorRT calls it from C++ through a trampoline that swallows Python exceptions (it prints
    them and, for ``step_complete``, cancels), so a KeyboardInterrupt raised inside a callback
    would be lost: each callback catches it, remembers it in ``cancelled`` and makes the next
    ``step_complete`` return False; :func:`build_engine` re-raises it after the build returns.
    """

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._steps: dict[str, int] = {}
            self._start = time.monotonic()
            self.cancelled = False

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            try:
                self._steps[phase_name] = num_steps
            except KeyboardInterrupt:
                self.cancelled = True

        def step_complete(self, phase_name: str, step: int) -> bool:
            try:
                if stream is not None and not self.cancelled:
                    total = self._steps.get(phase_name, 0)
                    stream.write(f"\r{label}: {phase_name} {step + 1}/{total}  "
                                 f"{time.monotonic() - self._start:5.0f} s   ")
                    stream.flush()
            except KeyboardInterrupt:
                self.cancelled = True
            return not self.cancelled  # False cancels the build

        def phase_finish(self, phase_name: str) -> None:
            try:
                self._steps.pop(phase_name, None)
                if stream is not None and not self._steps:
                    stream.write("\n")
            except KeyboardInterrupt:
                self.cancelled = True

    return Monitor()


def attach_timing_cache(config: tensorrt.IBuilderConfig, path: Path | None) -> None:
    """Give ``config`` the timing cache from ``path`` (if any), or a fresh one.

    ``set_timing_cache`` returns False when the file was made on another GPU or TensorRT
    (``ignore_mismatch=False``: a foreign cache can pick slow or wrong tactics), and
    ``create_timing_cache`` returns None for a corrupt file: both fall back to a fresh cache
    (overwritten after the build) with a warning, never to a crash after the build.
    """
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data) if data else None
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return
    if data:
        warnings.warn(f"timing cache {path} was made for another GPU or TensorRT version (or is "
                      "damaged); building with a fresh one, which will replace it", stacklevel=3)
    fresh = config.create_timing_cache(b"")
    if fresh is None or not config.set_timing_cache(fresh, ignore_mismatch=False):
        warnings.warn("TensorRT refused a fresh timing cache; building without one", stacklevel=3)


def save_timing_cache(config: tensorrt.IBuilderConfig, path: Path | None) -> None:
    if path is None:
        return
    cache = config.get_timing_cache()
    if cache is None:  # none attached (see attach_timing_cache): nothing to keep
        return
    write_atomic(path, bytes(memoryview(cache.serialize())))


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    *,
    precision: str,
    onnx_precision: str,
    max_batch: int = 1,
    opt_batch: int = 1,
    workspace_mb: int | None = None,
    dla_core: int | None = None,
    timing_cache: Path | None = None,
    device: int = 0,
    progress: TextIO | None = sys.stderr,
) -> dict[str, Any]:
    """Parse ``onnx_path`` with TensorRT's ONNX parser and write a serialized plan.

    Args:
        onnx_path: The ONNX model (a Q/DQ model for int8).
        plan_path: Where the plan goes (written atomically).
        precision: ``fp32``, ``fp16`` or ``int8`` (see :func:`~edge_sdk.tensorrt.compat.build_plan`
            for the mechanism).
        onnx_precision: Precision of the ONNX file (from the manifest).
        max_batch: Largest batch of a dynamic-batch input.
        opt_batch: The batch TensorRT tunes its kernels for (the typical one).
        workspace_mb: Workspace memory pool limit.
        dla_core: Build for this DLA core (Jetson AGX Orin / Orin NX), fp16 or int8, with GPU
            fallback and a static batch of ``max_batch``.
        timing_cache: Timing cache file, read if present and usable, written back.
        device: CUDA device to build on (engines are tuned for, and tied to, that GPU).
        progress: Stream for progress output, None for silence.

    Returns:
        The engine's metadata (TensorRT version, GPU, compute capability, precision, batch,
        DLA core, options).

    Raises:
        BackendError: the parser or the builder failed (parser errors in full).
        ConfigError: an impossible combination (see ``build_plan``), or a dynamic dimension
            other than the batch.
        KeyboardInterrupt: Ctrl-C during the build (the build is cancelled cleanly).
    """
    require_tensorrt()
    import tensorrt as trt

    plan = build_plan(trt, precision, onnx_precision, dla=dla_core is not None)
    set_device(device)  # per thread: the builder uses the calling thread's current device
    gpu = device_properties(device)
    builder = trt.Builder(logger(trt))
    if dla_core is not None and builder.num_DLA_cores <= dla_core:
        raise ConfigError(
            f"DLA core {dla_core} asked for; this device has {builder.num_DLA_cores} DLA core(s) "
            "(AGX Orin and Orin NX have 2, Orin Nano none; TensorRT 11.0–11.3 has no DLA "
            "support). Fix: drop --dla or pick a core below that count")
    network = builder.create_network(network_flags(trt, plan))
    parser = trt.OnnxParser(network, logger(trt))
    if not parser.parse_from_file(str(onnx_path)):
        errors = "\n".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT's ONNX parser rejected {onnx_path}:\n{errors}")
    config = builder.create_builder_config()
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    batch = BatchProfile.for_engine(max_batch, opt_batch, static=dla_core is not None)
    dynamic = dynamic_inputs(network)
    if dynamic:
        profile = builder.create_optimization_profile()
        for name, shape in dynamic:
            rest = shape[1:]
            profile.set_shape(name, trt.Dims([batch.minimum, *rest]),
                              trt.Dims([batch.optimum, *rest]), trt.Dims([batch.maximum, *rest]))
        config.add_optimization_profile(profile)
    if dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = dla_core
    attach_timing_cache(config, timing_cache)
    label = f"building {plan_path.name}"
    start = time.monotonic()
    monitor = None
    if supports_progress_monitor(trt):
        monitor = progress_monitor(trt, label, progress)
        config.progress_monitor = monitor
        serialized = builder.build_serialized_network(network, config)
    elif progress is not None:
        with _Spinner(label, progress):
            serialized = builder.build_serialized_network(network, config)
    else:
        serialized = builder.build_serialized_network(network, config)
    if monitor is not None and monitor.cancelled:
        raise KeyboardInterrupt(f"build of {plan_path.name} cancelled")
    if serialized is None:
        raise BackendError(f"TensorRT could not build {onnx_path} as {precision} ({plan.note}); "
                           "see the TensorRT messages above")
    write_atomic(plan_path, bytes(memoryview(serialized)))
    save_timing_cache(config, timing_cache)
    options = {"max_batch": batch.maximum, "opt_batch": batch.optimum,
               "workspace_mb": workspace_mb, "dla_core": dla_core, "mechanism": plan.note}
    return {
        "tensorrt_version": tensorrt_version(trt),
        "gpu": gpu["name"],
        "compute_capability": gpu["compute_capability"],
        "precision": precision,
        "max_batch": batch.maximum,
        "dla_core": dla_core,
        "options": options,
        "build_seconds": round(time.monotonic() - start, 1),
        "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
