"""GPU check: cuda-python buffers/streams/events/graphs, the torch backend on CUDA, TensorRT
where installed, and a short pipeline benchmark. Run through ``benchmarks/gpu_check.sh``.

The checks named "finding N" prove the fixes of the TensorRT review on real hardware: pinned
output memory owned by its views (1), a foreign timing cache (3), mirrored classifier crops at
``max_lesions`` (4), CUDA graph capture/destroy and its failure path (5), engine reuse keyed by
GPU name and batch (8). Those needing TensorRT say "skipped: ..." where it is not installed;
the cuda-python ones run on any CUDA GPU. ``--dry-run`` lists the checks and what each needs,
without touching a GPU.

Prints a summary; exits non-zero when a check fails. Never claims a path that did not run: each
line says ran / skipped (why) / FAILED.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import tempfile
import time
import traceback
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS: list[tuple[str, str, str]] = []


def check(name: str, fn: Callable[[], str]) -> None:
    start = time.monotonic()
    try:
        detail = fn()
        status = "skipped" if detail.startswith("skipped") else "ran"
    except Exception as exc:  # noqa: BLE001 - report and carry on with the other checks
        traceback.print_exc()
        status, detail = "FAILED", f"{type(exc).__name__}: {exc}"
    RESULTS.append((name, status, f"{detail}  [{time.monotonic() - start:.1f} s]"))
    print(f"== {name}: {status} — {detail}", flush=True)


def cuda_python_buffers() -> str:
    from edge_sdk.tensorrt.cuda import (
        DeviceBuffer,
        EventTimer,
        PinnedBuffer,
        Stream,
        device_properties,
    )

    props = device_properties(0)
    nbytes = 64 << 20
    host_in, host_out, device = PinnedBuffer(), PinnedBuffer(), DeviceBuffer()
    host_in.ensure(nbytes), host_out.ensure(nbytes)
    grew = device.ensure(nbytes), device.ensure(nbytes // 2)
    data = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
    np.copyto(host_in.view((nbytes,), np.uint8), data)
    stream, timer = Stream(), EventTimer(("h2d", "d2h"))
    timer.record(0, stream)
    stream.copy_to_device(device.ptr, host_in.ptr, nbytes)
    timer.record(1, stream)
    stream.copy_to_host(host_out.ptr, device.ptr, nbytes)
    timer.record(2, stream)
    stream.synchronize()
    split = timer.elapsed_ms()
    same = np.array_equal(host_out.view((nbytes,), np.uint8), data)
    for thing in (timer, stream):
        thing.destroy()
    for buffer in (host_in, host_out, device):
        buffer.free()
    if not same or grew != (True, False):
        raise RuntimeError(f"round trip equal={same}, grow pattern {grew}")
    gbps = {k: nbytes / (v / 1e3) / 1e9 for k, v in split.items()}
    return (f"{props['name']} cc {props['compute_capability']}: 64 MiB round trip exact; "
            f"H2D {gbps['h2d']:.1f} GB/s, D2H {gbps['d2h']:.1f} GB/s (pinned, CUDA events)")


def pinned_ownership() -> str:
    """Finding 1: a view of cudaMallocHost memory outlives the buffer's growth and free();
    the block goes back to CUDA when the last view is released."""
    from edge_sdk.tensorrt.cuda import PinnedBuffer, check, cudart

    rt = cudart()
    buffer = PinnedBuffer()
    buffer.ensure(1 << 20)
    ptr = buffer.ptr
    owner = weakref.ref(buffer._allocation)  # type: ignore[arg-type]
    view = buffer.view((1 << 18,), np.dtype(np.float32))
    view[:] = np.arange(view.size, dtype=np.float32)
    buffer.ensure(4 << 20)
    buffer.free()
    gc.collect()
    kind = check(rt.cudaPointerGetAttributes(ptr), "cudaPointerGetAttributes").type
    alive = owner() is not None and kind == rt.cudaMemoryType.cudaMemoryTypeHost
    intact = bool(np.array_equal(view, np.arange(view.size, dtype=np.float32)))
    del view
    gc.collect()
    after = check(rt.cudaPointerGetAttributes(ptr), "cudaPointerGetAttributes").type
    released = owner() is None and after != rt.cudaMemoryType.cudaMemoryTypeHost
    if not (alive and intact and released):
        raise RuntimeError(f"pinned block alive under its view={alive}, data intact={intact}, "
                           f"released after the last view={released} (type now {after})")
    return "view kept its pinned block through growth and free(); block freed after the view"


def graph_capture() -> str:
    """Finding 5: capture -> instantiate -> destroy the graph; replay; destroy the executable;
    a capture that fails is ended and reported, and the stream stays usable."""
    from edge_sdk.tensorrt.cuda import DeviceBuffer, PinnedBuffer, Stream, check, cudart

    rt = cudart()
    stream, device, host = Stream(), DeviceBuffer(), PinnedBuffer()
    nbytes = 1 << 20
    device.ensure(nbytes)
    host.ensure(nbytes)
    free_before = check(rt.cudaMemGetInfo(), "cudaMemGetInfo")[0]
    for value in range(1, 201):  # 200 captures: a leak of graphs or executables shows in memory
        graph, why = stream.capture(
            lambda v=value: check(rt.cudaMemsetAsync(device.ptr, v, nbytes, stream.handle),
                                  "cudaMemsetAsync") is None)
        if graph is None:
            raise RuntimeError(f"capture failed: {why}")
        graph.launch(stream)
        graph.destroy()
    stream.copy_to_host(host.ptr, device.ptr, nbytes)
    stream.synchronize()
    last = int(host.view((nbytes,), np.dtype(np.uint8))[0])
    free_after = check(rt.cudaMemGetInfo(), "cudaMemGetInfo")[0]
    failed, why = stream.capture(lambda: check(rt.cudaStreamSynchronize(stream.handle),
                                               "cudaStreamSynchronize in capture") is None)
    stream.copy_to_host(host.ptr, device.ptr, nbytes)
    stream.synchronize()  # still usable after the failed capture
    stream.destroy()
    device.free()
    host.free()
    leak_mb = (free_before - free_after) / 2**20
    if last != 200 or failed is not None or leak_mb > 16:
        raise RuntimeError(f"replayed value {last} (want 200), failed capture gave {failed} "
                           f"({why}), device memory drop {leak_mb:.1f} MiB over 200 graphs")
    return (f"200 graphs captured, replayed and destroyed (device memory drop {leak_mb:.1f} MiB); "
            f"an illegal capture was ended and reported: {why[:80]}")


def engine_keys() -> str:
    """Finding 8: engine reuse keyed by GPU name, DLA core and batch, with this GPU's facts."""
    from edge_sdk.tensorrt.cache import is_compatible
    from edge_sdk.tensorrt.compat import engine_file_name, tensorrt_problem
    from edge_sdk.tensorrt.cuda import device_properties

    props = device_properties(0)
    version = "10.3.0" if tensorrt_problem() else __import__("tensorrt").__version__
    facts = {"tensorrt_version": version, "gpu": props["name"],
             "compute_capability": props["compute_capability"]}
    meta = {**facts, "precision": "fp16", "max_batch": 4, "dla_core": None}
    cases = {
        "same": is_compatible(meta, facts, "fp16", None, 4),
        "other GPU, same cc": not is_compatible(meta, {**facts, "gpu": "Other GPU"}, "fp16", None, 1),
        "batch too small": not is_compatible(meta, facts, "fp16", None, 5),
        "DLA wanted": not is_compatible(meta, facts, "fp16", 0, 1),
    }
    if not all(cases.values()):
        raise RuntimeError(f"engine keys wrong: {cases}")
    name = engine_file_name("classifier", "fp16", version, props["compute_capability"],
                            props["name"], 8)
    return f"keys hold for {props['name']} (cc {props['compute_capability']}); plan name {name}"


def timing_cache_mismatch(folder: Path) -> str:
    """Finding 3: a timing cache from elsewhere falls back to a fresh one and is replaced."""
    from edge_sdk.tensorrt.build import build_engine
    from edge_sdk.tensorrt.compat import tensorrt_problem
    from edge_sdk.testing import tiny_segmenter_onnx

    problem = tensorrt_problem()
    if problem:
        return f"skipped: needs TensorRT ({problem})"
    onnx = tiny_segmenter_onnx(folder / "seg.onnx", 64)
    cache = folder / "trt.cache"
    cache.write_bytes(b"a timing cache from another machine")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_engine(onnx, folder / "seg.plan", precision="fp16", onnx_precision="fp32",
                     timing_cache=cache, progress=None)
    build_engine(onnx, folder / "seg2.plan", precision="fp16", onnx_precision="fp32",
                 timing_cache=cache, progress=None)  # the rewritten cache is accepted
    warned = any("timing cache" in str(w.message) for w in caught)
    if not warned or cache.read_bytes().startswith(b"a timing cache"):
        raise RuntimeError(f"warned={warned}, cache replaced={not cache.read_bytes().startswith(b'a t')}")
    return f"foreign cache replaced ({cache.stat().st_size} bytes) and reused by the next build"


def mirrored_crops(bundle: Path) -> str:
    """Finding 4: classifier_hflip at max_lesions sends 2 x crops; the engine must take them."""
    from edge_sdk import Pipeline, load_bundle
    from edge_sdk.tensorrt.compat import tensorrt_problem
    from edge_sdk.testing import synthetic_frame

    problem = tensorrt_problem()
    if problem:
        return f"skipped: needs TensorRT ({problem})"
    loaded = load_bundle(bundle)
    params = dataclasses.replace(loaded.manifest.pipeline, classifier_hflip=True, max_lesions=2)
    frame = synthetic_frame(600, 800, lesions=[(300, 300, 80, 50), (550, 280, 60, 60)], seed=1)
    with Pipeline(loaded, backend="tensorrt", params=params) as pipeline:
        result = pipeline.process(frame)
    if len(result.lesions) != 2:
        raise RuntimeError(f"{len(result.lesions)} lesions classified, expected 2")
    return "2 lesions + 2 mirrors classified in one batch of 4"


def torch_backend(bundle: Path, frames: list[np.ndarray]) -> str:
    import torch

    from edge_sdk import Pipeline
    from edge_sdk.timing import describe

    if not torch.cuda.is_available():
        return "skipped: torch sees no CUDA device"
    lines = []
    for label, options in (("cpu onnxruntime", None), ("cuda fp32", {"device": "cuda"}),
                           ("cuda fp16", {"device": "cuda", "half": True}),
                           ("cuda fp16 graph", {"device": "cuda", "half": True, "cuda_graph": True,
                                                "channels_last": True})):
        backend = "onnxruntime" if options is None else "torch"
        with Pipeline(bundle, backend=backend, backend_options=options or {}) as pipeline:
            for frame in frames[:5]:
                pipeline.process(frame)
            totals = [pipeline.process(f).latency_ms for f in frames]
        seg = describe([t.segment for t in totals])
        tot = describe([t.total for t in totals])
        lines.append(f"{label}: segment p50 {seg['p50']:.2f} ms, total p50 {tot['p50']:.2f} / "
                     f"p99 {tot['p99']:.2f} ms")
    return "; ".join(lines)


def tensorrt_path(bundle: Path, frames: list[np.ndarray]) -> str:
    from edge_sdk.tensorrt.compat import tensorrt_problem

    problem = tensorrt_problem()
    if problem:
        return f"skipped: {problem}"
    from edge_sdk import Pipeline
    from edge_sdk.timing import describe

    with Pipeline(bundle, backend="tensorrt", backend_options={"time_transfers": True}) as pipeline:
        totals = [pipeline.process(f).latency_ms.total for f in frames]
        split = pipeline.segmenter.last_split_ms  # type: ignore[attr-defined]
    return f"TensorRT pipeline total p50 {describe(totals)['p50']:.2f} ms; segmenter split {split}"


CHECKS = (
    # (name, needs, runner taking (bundle, frames, scratch folder))
    ("cuda-python buffers, stream, events", "CUDA GPU + cuda-python",
     lambda b, f, d: cuda_python_buffers()),
    ("finding 1: pinned output memory owned by its views", "CUDA GPU + cuda-python",
     lambda b, f, d: pinned_ownership()),
    ("finding 5: CUDA graph capture, replay, destroy, failed capture", "CUDA GPU + cuda-python",
     lambda b, f, d: graph_capture()),
    ("finding 8: engine keys with this GPU's name", "CUDA GPU + cuda-python",
     lambda b, f, d: engine_keys()),
    ("finding 3: foreign timing cache", "TensorRT", lambda b, f, d: timing_cache_mismatch(d)),
    ("finding 4: mirrored crops at max_lesions", "TensorRT", lambda b, f, d: mirrored_crops(b)),
    ("torch backend on CUDA", "PyTorch with CUDA", lambda b, f, d: torch_backend(b, f)),
    ("TensorRT backend", "TensorRT", lambda b, f, d: tensorrt_path(b, f)),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, default=None,
                        help="bundle with torch programs (default: the tiny test bundle + programs)")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--dry-run", action="store_true",
                        help="list the checks and what each needs; touch no GPU")
    args = parser.parse_args()
    if args.dry_run:
        import edge_sdk.backends.tensorrt_backend
        import edge_sdk.tensorrt.cache  # noqa: F401 - the modules the checks use import here
        from edge_sdk.tensorrt.compat import tensorrt_problem

        print(f"TensorRT here: {tensorrt_problem() or 'importable'}")
        for name, needs, _ in CHECKS:
            print(f"  would run: {name}  (needs {needs})")
        return 0
    from edge_sdk.testing import synthetic_frame

    frames = [synthetic_frame(600, 800, lesions=[(300, 300, 80, 50), (550, 280, 60, 60)], seed=i)
              for i in range(args.frames)]
    scratch = Path(tempfile.mkdtemp())
    bundle = args.bundle or _tiny_bundle_with_programs(scratch / "bundle")
    print(f"bundle: {bundle}", flush=True)
    for name, _, run in CHECKS:
        check(name, lambda run=run: run(bundle, frames, scratch))
    print("\nSUMMARY")
    for name, status, detail in RESULTS:
        print(f"  {status:8s} {name}: {detail}")
    return 1 if any(status == "FAILED" for _, status, _ in RESULTS) else 0


def _tiny_bundle_with_programs(folder: Path) -> Path:
    from edge_sdk.testing import make_tiny_bundle

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.backends.tiny_torch import add_tiny_programs

    return add_tiny_programs(make_tiny_bundle(folder, seg_size=256, cls_size=224).root)


if __name__ == "__main__":
    raise SystemExit(main())
