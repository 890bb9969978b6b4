"""GPU check: cuda-python buffers/streams/events/graphs, the torch backend on CUDA, TensorRT
where installed, and a short pipeline benchmark. Run through ``benchmarks/gpu_check.sh``.

Prints a summary; exits non-zero when a check fails. Never claims a path that did not run: each
line says ran / skipped (why) / FAILED.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, default=None,
                        help="bundle with torch programs (default: the tiny test bundle + programs)")
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    from edge_sdk.testing import synthetic_frame

    frames = [synthetic_frame(600, 800, lesions=[(300, 300, 80, 50), (550, 280, 60, 60)], seed=i)
              for i in range(args.frames)]
    bundle = args.bundle or _tiny_bundle_with_programs(Path(tempfile.mkdtemp()))
    print(f"bundle: {bundle}", flush=True)
    check("cuda-python buffers, stream, events", cuda_python_buffers)
    check("torch backend on CUDA", lambda: torch_backend(bundle, frames))
    check("TensorRT backend", lambda: tensorrt_path(bundle, frames))
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
