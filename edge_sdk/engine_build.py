"""Build TensorRT engines from a bundle's ONNX models (``edge-sdk build-engine``).

Engines are written as plain serialized plans (no header: trtexec and DeepStream load them as
they are) and recorded in the bundle manifest with what they depend on.
"""

from __future__ import annotations

import datetime
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from edge_sdk.bundle import Bundle, load_bundle, write_bundle_manifest
from edge_sdk.errors import BackendError, ConfigError, MissingDependencyError
from edge_sdk.manifest import ArtifactSpec
from edge_sdk.tensorrt_compat import (
    build_plan,
    network_flags,
    supports_progress_monitor,
)

PLACEHOLDER_SHA = "0" * 64


def tensorrt_problem() -> str | None:
    """Why TensorRT cannot be used here, or None when it imports with its runtime library."""
    try:
        import tensorrt
    except ImportError as exc:
        return f"TensorRT is not importable ({exc})"
    if not hasattr(tensorrt, "Runtime"):
        # e.g. only the type stubs (a 'tensorrt' folder of .pyi files) are installed
        return "the 'tensorrt' module found has no runtime (type stubs only?)"
    return None


def require_tensorrt() -> None:
    """Raise :class:`MissingDependencyError` naming the extra when TensorRT is not usable."""
    problem = tensorrt_problem()
    if problem:
        raise MissingDependencyError(
            f"{problem}. Fix: pip install 'edge-sdk[tensorrt]' on a machine with an NVIDIA GPU "
            "(on Jetson, TensorRT comes with JetPack: use the system Python or a venv created "
            "with --system-site-packages)"
        )


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


def _progress_monitor(label: str, stream: TextIO) -> Any:
    """A ``trt.IProgressMonitor`` that prints each build phase's progress on one line."""
    import tensorrt as trt

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._steps: dict[str, int] = {}
            self._start = time.monotonic()

        def phase_start(self, phase_name: str, parent_phase: str, num_steps: int) -> None:
            self._steps[phase_name] = num_steps

        def step_complete(self, phase_name: str, step: int) -> bool:
            total = self._steps.get(phase_name, 0)
            stream.write(f"\r{label}: {phase_name} {step + 1}/{total}  "
                         f"{time.monotonic() - self._start:5.0f} s   ")
            stream.flush()
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            self._steps.pop(phase_name, None)
            if not self._steps:
                stream.write("\n")

    return Monitor()


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    *,
    precision: str,
    onnx_precision: str,
    max_batch: int = 1,
    workspace_mb: int | None = None,
    dla_core: int | None = None,
    timing_cache: Path | None = None,
    progress: TextIO | None = sys.stderr,
) -> dict[str, Any]:
    """Parse ``onnx_path`` with TensorRT's ONNX parser and write a serialized plan.

    Args:
        onnx_path: The ONNX model (a Q/DQ model for int8).
        plan_path: Where the plan goes.
        precision: ``fp32``, ``fp16`` or ``int8`` (see :func:`build_plan` for the mechanism).
        onnx_precision: Precision of the ONNX file (from the manifest).
        max_batch: Largest batch of a dynamic-batch input (profile 1 … max_batch).
        workspace_mb: Workspace memory pool limit.
        dla_core: Build for this DLA core with GPU fallback (Jetson AGX/NX).
        timing_cache: Timing cache file, read if present and written back (faster rebuilds).
        progress: Stream for progress output, None for silence.

    Returns:
        The engine's metadata (TensorRT version, GPU, compute capability, precision, options).

    Raises:
        BackendError: the parser or the builder failed (parser errors in full).
    """
    require_tensorrt()
    import tensorrt as trt

    from edge_sdk.cuda_runtime import device_properties

    gpu = device_properties(0)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    plan = build_plan(trt, precision, onnx_precision)
    network = builder.create_network(network_flags(trt, plan))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "\n".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT's ONNX parser rejected {onnx_path}:\n{errors}")
    config = builder.create_builder_config()
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    dynamic = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = tensor.shape
        shape = [int(dims[j]) for j in range(len(dims))]
        if shape and shape[0] == -1:
            dynamic.append((tensor.name, shape))
    if dynamic:
        profile = builder.create_optimization_profile()
        for name, shape in dynamic:
            rest = shape[1:]
            profile.set_shape(name, trt.Dims([1, *rest]), trt.Dims([max_batch, *rest]),
                              trt.Dims([max_batch, *rest]))
        config.add_optimization_profile(profile)
    if dla_core is not None:
        if builder.num_DLA_cores <= dla_core:
            raise ConfigError(f"DLA core {dla_core} asked for; this device has "
                              f"{builder.num_DLA_cores} DLA core(s)")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    label = f"building {plan_path.name}"
    start = time.monotonic()
    if progress is not None and supports_progress_monitor(trt):
        config.progress_monitor = _progress_monitor(label, progress)
        serialized = builder.build_serialized_network(network, config)
    elif progress is not None:
        with _Spinner(label, progress):
            serialized = builder.build_serialized_network(network, config)
    else:
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT could not build {onnx_path} as {precision} ({plan.note}); "
                           "see the TensorRT messages above")
    plan_path.write_bytes(bytes(memoryview(serialized)))
    if timing_cache is not None:
        timing_cache.write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
    return {
        "tensorrt_version": trt.__version__,
        "gpu": gpu["name"],
        "compute_capability": gpu["compute_capability"],
        "precision": precision,
        "options": {"max_batch": max_batch, "workspace_mb": workspace_mb, "dla_core": dla_core,
                    "mechanism": plan.note},
        "build_seconds": round(time.monotonic() - start, 1),
        "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def build_bundle_engines(
    bundle_dir: str | Path,
    precision: str | None = None,
    max_lesions: int | None = None,
    **options: Any,
) -> Bundle:
    """Build an engine for each net of a bundle, write them into it and record them.

    Existing TensorRT artifacts with the same TensorRT version, compute capability and
    precision are replaced; the manifest's sha256 list is rewritten.
    """
    from edge_sdk.engine_cache import engine_target, host_facts, is_compatible

    require_tensorrt()
    bundle = load_bundle(bundle_dir)
    manifest = bundle.manifest
    limit = max_lesions or manifest.pipeline.max_lesions
    facts = host_facts()
    artifacts: dict[str, tuple[ArtifactSpec, ...]] = {}
    for role, spec in manifest.models.items():
        chosen = precision or spec.precision
        name, max_batch = engine_target(spec, chosen, limit, facts, options.get("dla_core"))
        path = bundle.root / name
        meta = build_engine(bundle.model_path(role), path, precision=chosen,
                            onnx_precision=spec.precision, max_batch=max_batch, **options)
        kept = tuple(a for a in spec.artifacts
                     if not (a.kind == "tensorrt" and is_compatible(dict(a.meta), facts, chosen)))
        artifacts[role] = kept + (ArtifactSpec("tensorrt", path.name, PLACEHOLDER_SHA, meta),)
    return write_bundle_manifest(bundle.root, manifest.with_artifacts(artifacts))
